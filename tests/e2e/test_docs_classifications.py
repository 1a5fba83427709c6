"""docs/security-classifications.md's curl samples, pasted into bash in order, against the local stack: they must
do what the page says (the assistant stopped and named, the question refused before the provider, the reorder,
the refused delete, and the clean-up)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.actors import add_fake_model, new_tenant
from tests.e2e.shell_samples import api_env, run_sh, sh_blocks
from tests.fakes.llm_server import FakeLLMServer

pytestmark = pytest.mark.e2e
PAGE = Path(__file__).resolve().parents[2] / "docs" / "security-classifications.md"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(token_count=4) as server:
        yield server


def test_the_pages_curl_samples_work_as_pasted(stack, fake: FakeLLMServer) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
        add_fake_model(http, admin, fake)
        space = next(s["id"] for s in http.get("/api/v1/spaces/", headers=admin.headers).json()["items"]
                     if s["personal"])
        assistant = http.post(f"/api/v1/spaces/{space}/applications/assistants/", headers=admin.headers,
                              json={"name": "Hjälpreda", "system_prompt": "You are a helpful assistant."}).json()["id"]
        blocks = sh_blocks(PAGE.read_text())
        assert len(blocks) == 4
        fake.reset()
        # The page's own samples, as a reader pastes them: the point of this test.
        run = run_sh("\n".join(blocks), api_env(stack.base_url, admin, SPACE=space, ASSISTANT=assistant))
        out = run.stdout
        assert f'"stopped_assistants":[{{"id":"{assistant}","name":"Hjälpreda","space_id":"{space}"}}]' in out
        assert '"code":"model_classification_too_low"' in out and "'Intern'" in out and "'Skyddad'" in out
        assert '"stopped_assistants":[]' in out  # the reorder
        assert '"code":"classification_in_use"' in out
        assert out.endswith("204\n204\n204\n")  # the three deletions
        assert fake.requests == []  # the refused question never reached the provider
        assert http.get("/api/v1/security-classifications/", headers=admin.headers).json()["items"] == []
        after = http.post(f"/api/v1/assistants/{assistant}/sessions/", headers=admin.headers,
                          json={"question": "Hej?"})
        assert after.status_code == 201, after.text
