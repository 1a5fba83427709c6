"""docs/permissions.md's curl samples, pasted into bash in order, against the local stack: they must do what
the page says (the custom role made, changed and given, the caller's permissions listed, the group made with
its member and given a space role, the model limited to it: a non-member's question refused before the
provider, and the model opened again)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.actors import Actor, add_fake_model, new_tenant
from tests.e2e.shell_samples import api_env, run_sh, sh_blocks
from tests.fakes.llm_server import FakeLLMServer

pytestmark = pytest.mark.e2e
PAGE = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"
ADMIN_PERMISSIONS = ("administer_audit administer_models administer_users create_assistants manage_collections "
                     "manage_websites see_insights use_assistants")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(token_count=4) as server:
        yield server


def _named(http: httpx.Client, admin: Actor, path: str, name: str) -> dict:
    """The item of a list route called `name` (the page keeps ids in shell variables only)."""
    r = http.get(path, headers=admin.headers)
    assert r.status_code == 200, r.text
    return next(item for item in r.json()["items"] if item["name"] == name)


def test_the_pages_curl_samples_work_as_pasted(stack, fake: FakeLLMServer) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
        model = add_fake_model(http, admin, fake)
        space = next(s["id"] for s in http.get("/api/v1/spaces/", headers=admin.headers).json()["items"]
                     if s["personal"])
        assistant = http.post(f"/api/v1/spaces/{space}/applications/assistants/", headers=admin.headers,
                              json={"name": "Hjälpreda", "system_prompt": "You are a helpful assistant."}).json()["id"]
        blocks = sh_blocks(PAGE.read_text())
        assert len(blocks) == 3
        fake.reset()
        # The page's own samples, as a reader pastes them: the point of this test.
        run = run_sh("\n".join(blocks), api_env(stack.base_url, admin, SPACE=space, ASSISTANT=assistant))
        out = run.stdout

        role = _named(http, admin, "/api/v1/roles/", "Controller")
        assert not role["builtin"]
        assert sorted(role["permissions"]) == ["administer_audit", "see_insights", "use_assistants"]
        assert '"name":"Administrator"' in out and '"name":"User"' in out  # the roles listed
        assert f'"role_id":"{role["id"]}"' in out  # the user's answer shows the role given
        assert f"{ADMIN_PERMISSIONS}\n" in out  # what the caller (the admin) may do, by name
        anna = next(u for u in http.get("/api/v1/users/", headers=admin.headers).json()["items"]
                    if u["email"] == "anna@example.org")
        assert (anna["role"], anna["role_id"]) == ("user", role["id"])

        group = _named(http, admin, "/api/v1/user-groups/", "Socialtjänsten")
        members = http.get(f"/api/v1/user-groups/{group['id']}/", headers=admin.headers).json()["members"]
        assert [m["user_id"] for m in members] == [anna["id"]]
        team = _named(http, admin, "/api/v1/spaces/", "Försörjningsstöd")
        detail = http.get(f"/api/v1/spaces/{team['id']}/", headers=admin.headers).json()
        assert [(g["group_id"], g["role"]) for g in detail["group_members"]] == [(group["id"], "editor")]

        assert '"code":"model_not_allowed"' in out and "'fake-model'" in out
        assert "\n403\n" in out
        assert fake.requests == []  # the refused question never reached the provider
        opened = http.get(f"/api/v1/completion-models/{model}/", headers=admin.headers).json()
        assert not opened["allowed_group_ids"]
        after = http.post(f"/api/v1/assistants/{assistant}/sessions/", headers=admin.headers,
                          json={"question": "Hej?"})
        assert after.status_code == 201, after.text
