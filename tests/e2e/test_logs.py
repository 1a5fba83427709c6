"""Runs after every other end-to-end test: the stack's whole output (gateway and every function)
holds no password, token or key that went through it, and no question or answer text."""

import httpx
import pytest

from tests.e2e.actors import CONTENT, ISSUED, PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.reads_all_logs]


def test_no_secret_or_content_reaches_the_logs(stack) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        r = http.post("/api/v1/users/login/token/", data={"username": stack.admin_email,
                                                          "password": "wrong " + PASSWORD})
    assert r.status_code == 401
    output = stack.output()
    for service in ("auth", "spaces", "models", "assistants", "sessions", "complete", "ws"):
        assert f'"service": "{service}"' in output, f"no log line of {service}: the check would be vacuous"
    assert len(ISSUED) > 5
    secrets = (*ISSUED, PASSWORD, stack.super_api_key, stack.jwt_secret, stack.secret("ENCRYPTION_KEY"))
    for secret in secrets:
        assert secret not in output
    assert CONTENT, "the streaming tests record the questions and answers they sent"
    for content in CONTENT:
        assert content not in output, "question or answer text in the logs"
