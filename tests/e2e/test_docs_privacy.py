"""docs/privacy.md's curl samples, pasted into bash in order, against the local stack: the tenant's retention
period set and seen as an assistant's effective one, and a user's export whose link downloads the archive
without credentials."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.actors import add_fake_model, new_tenant, new_user
from tests.e2e.shell_samples import json_documents, run_sh, sh_blocks
from tests.fakes.llm_server import FakeLLMServer

pytestmark = pytest.mark.e2e
PAGE = Path(__file__).resolve().parents[2] / "docs" / "privacy.md"
SAMPLE_API = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(token_count=4) as server:
        yield server


def test_the_pages_curl_samples_work_as_pasted(stack, fake: FakeLLMServer) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
        add_fake_model(http, admin, fake)  # an assistant needs a model
        user = new_user(http, admin)
        space = next(s["id"] for s in http.get("/api/v1/spaces/", headers=admin.headers).json()["items"]
                     if s["personal"])
        assistant = http.post(f"/api/v1/spaces/{space}/applications/assistants/", headers=admin.headers,
                              json={"name": "Hjälpreda"}).json()["id"]
        blocks = sh_blocks(PAGE.read_text())
        assert len(blocks) == 2 and all(SAMPLE_API in b for b in blocks)
        script = "\n".join(blocks).replace(SAMPLE_API, stack.base_url)
        run = run_sh(script, {"TOKEN": admin.token, "ASSISTANT_ID": assistant, "USER_ID": user.id})
        period, effective, export = json_documents(run.stdout)

        assert period["days"] == 90 and period["scope"] == "tenant", period
        assert effective == {"scope": "assistant", "target_id": assistant, "days": None, "effective_days": 90,
                             "effective_scope": "tenant"}
        archive = httpx.get(export["url"], timeout=30)  # the link needs no credentials
    assert archive.status_code == 200 and len(archive.content) == export["size_bytes"]
    with zipfile.ZipFile(io.BytesIO(archive.content)) as zf:
        assert json.loads(zf.read("user.json"))["email"] == user.email
        assert "manifest.json" in zf.namelist()
