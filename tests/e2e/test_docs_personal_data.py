"""docs/personal-data.md's curl samples, pasted into bash in order, against the local stack: an assistant's
editor makes it mask, and a tenant admin turns protection on for the whole organisation through
`/api/v1/settings/` (no sysadmin key). Then a question to another assistant of the organisation reaches the
provider without the personal identity number in it, as the page says."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.actors import add_fake_model, new_tenant
from tests.e2e.conftest import Stack
from tests.e2e.shell_samples import api_env, run_sh, sh_blocks
from tests.fakes.llm_server import FakeLLMServer

pytestmark = pytest.mark.e2e
PAGE = Path(__file__).resolve().parents[2] / "docs" / "personal-data.md"
PNR = "811218-9876"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(token_count=4) as server:
        yield server


def test_the_pages_curl_samples_work_as_pasted(stack: Stack, fake: FakeLLMServer) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
        add_fake_model(http, admin, fake)
        space = next(s["id"] for s in http.get("/api/v1/spaces/", headers=admin.headers).json()["items"]
                     if s["personal"])
        made = [http.post(f"/api/v1/spaces/{space}/applications/assistants/", headers=admin.headers,
                          json={"name": name, "system_prompt": "Du svarar kort."}) for name in ("Ärenden", "Växeln")]
        assert all(r.status_code == 201 for r in made), [r.text for r in made]
        assistant, other = (r.json()["id"] for r in made)
        blocks = sh_blocks(PAGE.read_text())
        assert len(blocks) == 1
        # The page's own samples, as a reader pastes them: the point of this test.
        run = run_sh("\n".join(blocks), api_env(stack.base_url, admin, ASSISTANT=assistant))
        assert '"personal_data":"mask"' in run.stdout
        assert '"protect_personal_data":true,"audit_retention_days":365' in run.stdout

        settings = http.get("/api/v1/settings/", headers=admin.headers).json()
        assert settings["protect_personal_data"] is True
        logged = http.get("/api/v1/audit/logs/", params={"action": "settings.updated"}, headers=admin.headers)
        assert [(e["outcome"], e["details"]["protect_personal_data"]) for e in logged.json()["items"]] == [
            ("success", True)]

        # The other assistant follows the organisation (`tenant`): the provider never sees the number.
        fake.reset()
        asked = http.post(f"/api/v1/assistants/{other}/sessions/", headers=admin.headers,
                          json={"question": f"Mitt personnummer är {PNR}, vad gäller?"})
        assert asked.status_code == 201, asked.text
        assert fake.requests and all(PNR not in str(r.body) for r in fake.requests)
