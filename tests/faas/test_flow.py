"""Through the OpenFaaS images (conftest.py): the README's curl flow (log in, spaces, an assistant, an answer
inline and one streamed by `complete` and read over SSE), an upload that becomes ready and searchable through
MinIO-shaped notifications to ingest and SQS batches to embed, the cron-connector's POST to sweep, and the
end-to-end API tests that hold for any deployment (cross-tenant table, error shapes, API keys)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.actors import Actor, add_fake_model, login, new_tenant
from tests.e2e.conftest import Stack
from tests.e2e.test_api import (  # noqa: F401 - pytest collects the imported tests and fixtures
    sysadmin,
    tenant_a,
    test_api_key_create_use_revoke_rejected,
    test_bad_requests_get_the_documented_error_shape,
    test_bootstrapped_admin_logs_in_and_works_in_a_space,
    test_tenant_b_cannot_touch_tenant_a,
    test_tenant_b_lists_nothing_of_tenant_a,
)
from tests.e2e.test_knowledge import DOCX, new_group, presigned_upload, search, wait_for
from tests.faas.conftest import Connector, Container
from tests.fakes.llm_server import FakeLLMServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def http(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=60) as client:
        yield client


def sse_entries(http: httpx.Client, who: Actor, question: str) -> list[tuple[str, str]]:
    """The README's loop: ask again with the last id until 204."""
    seen: list[tuple[str, str]] = []
    last = "0-0"
    for _ in range(100):
        r = http.get(f"/api/v1/questions/{question}/stream", headers=who.headers | {"Last-Event-ID": last})
        if r.status_code == 204:
            return seen
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream"), r.text
        for block in r.text.split("\n\n"):
            fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != ":")
            if "id" in fields:
                last = fields["id"]
                seen.append((fields["event"], json.loads(fields["data"]).get("text", "")))
    pytest.fail(f"the answer never ended: {seen[-3:]}")


def test_the_readme_flow(http: httpx.Client, stack: Stack, fake: FakeLLMServer) -> None:
    admin = Actor("", stack.admin_email, login(http, stack.admin_email, stack.admin_password))
    assert http.get("/api/v1/spaces/", headers=admin.headers).status_code == 200
    assert http.post("/api/v1/spaces/", json={"name": "Socialtjänst"}, headers=admin.headers).status_code == 201
    add_fake_model(http, admin, fake)  # the README's SmolLM2 is the local stack's; a fake answers here
    models = http.get("/api/v1/completion-models/", headers=admin.headers).json()["items"]
    assert any(m["name"] == "fake-model" and m["is_default"] for m in models)
    space = next(s["id"] for s in http.get("/api/v1/spaces/", headers=admin.headers).json()["items"] if s["personal"])
    assistant = http.post(f"/api/v1/spaces/{space}/applications/assistants/", headers=admin.headers, json={
        "name": "Hjälpreda", "system_prompt": "You are a helpful assistant.", "model_kwargs": {"max_tokens": 64}})
    assert assistant.status_code == 201, assistant.text
    sessions = f"/api/v1/assistants/{assistant.json()['id']}/sessions/"
    expected = "".join(fake.expected_tokens())

    inline = http.post(sessions, json={"question": "What is the capital of France?"}, headers=admin.headers)
    assert inline.status_code == 201, inline.text
    assert inline.json()["question"]["status"] == "completed" and inline.json()["question"]["answer"] == expected

    streamed = http.post(sessions, json={"question": "Name three colours.", "stream": True}, headers=admin.headers)
    assert streamed.status_code == 202, streamed.text
    entries = sse_entries(http, admin, streamed.json()["question"]["id"])  # written by complete's container
    assert entries[0][0] == "first_chunk" and entries[-1][0] == "done"
    assert "".join(text for kind, text in entries if kind == "text") == expected


def test_an_upload_becomes_ready_and_searchable(http: httpx.Client, stack: Stack, fake: FakeLLMServer,
                                                connector: Connector) -> None:
    _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
    add_fake_model(http, admin, fake)
    space = http.post("/api/v1/spaces/", json={"name": "Kunskap"}, headers=admin.headers).json()["id"]
    group = new_group(http, admin, space, "Riktlinjer")
    blob = presigned_upload(http, admin, group, "riktlinjer.docx", DOCX)
    ready = wait_for(http, admin, blob["id"], "ready", "failed")
    assert ready["status"] == "ready", ready
    assert ready["chunks_total"] >= 1 and ready["chunks_embedded"] == ready["chunks_total"]
    assert connector.minio_posts >= 1 and connector.delivered["EmbedQueue"] >= 1
    hits = search(http, admin, group, "När börjar man ploga gång- och cykelbanor?").json()
    items = hits["items"] if isinstance(hits, dict) else hits
    assert items and items[0]["info_blob_id"] == blob["id"]


def test_the_cron_connectors_post_runs_sweep(http: httpx.Client, stack: Stack,
                                             containers: dict[str, Container]) -> None:
    sysadmin_headers = {"X-API-Key": stack.super_api_key}
    tenants = http.get("/api/v1/sysadmin/tenants/", headers=sysadmin_headers, params={"limit": 200}).json()["items"]
    active = sum(1 for t in tenants if t["state"] == "active")
    answer = httpx.post(containers["SweepFunction"].url, content=b"", timeout=120)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"tenants": active, "resumed": 0, "failed": 0}
