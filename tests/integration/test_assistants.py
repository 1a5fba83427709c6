"""Assistants through the assistants function: space roles decide who sees, uses and edits them.

Viewers use published assistants and see nothing else (404, and absent from lists); editors and
admins see and change all; outsiders and other tenants get 404. Every prompt change is a version.
"""

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from eneo.auth.principal import Principal
from eneo.core.db import UnitOfWork
from eneo.core.errors import Forbidden, NotFound
from eneo.users.models import UserRole
from tests.integration.conftest import Member, Org

MODELS = "/api/v1/completion-models/"


@dataclass
class Team:
    admin: Member  # tenant admin and the space's admin
    editor: Member
    viewer: Member
    outsider: Member  # same tenant, not a member
    space: str
    model: str  # the tenant's default model

    def in_space(self) -> str:
        return f"/api/v1/spaces/{self.space}/applications/assistants/"


async def add_model(client: httpx.AsyncClient, admin: Member, **body: Any) -> str:
    r = await client.post("/api/v1/admin/model-providers/", headers=admin.headers,
                          json={"name": f"p-{uuid.uuid4().hex[:6]}", "type": "openai_compatible",
                                "base_url": "http://127.0.0.1:1/v1"})
    assert r.status_code == 201, r.text
    body = {"provider_id": r.json()["id"], "name": f"m-{uuid.uuid4().hex[:6]}", "context_window": 4096, **body}
    r = await client.post(MODELS, json=body, headers=admin.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


@pytest.fixture
async def team(client: httpx.AsyncClient, make_user) -> Team:
    admin = await make_user()
    org = Org(admin.tenant_id, "")
    editor, viewer, outsider = [await make_user(org, UserRole.user) for _ in range(3)]
    model = await add_model(client, admin, is_default=True, max_output_tokens=1000)
    space = (await client.post("/api/v1/spaces/", json={"name": "Skola"}, headers=admin.headers)).json()["id"]
    for who, role in ((editor, "editor"), (viewer, "viewer")):
        r = await client.post(f"/api/v1/spaces/{space}/members/", json={"user_id": str(who.id), "role": role},
                              headers=admin.headers)
        assert r.status_code == 201, r.text
    return Team(admin, editor, viewer, outsider, space, model)


async def create(client: httpx.AsyncClient, team: Team, who: Member | None = None, **body: Any) -> dict[str, Any]:
    body = {"name": "Rektorn", "system_prompt": "Du svarar kort.", **body}
    r = await client.post(team.in_space(), json=body, headers=(who or team.editor).headers)
    assert r.status_code == 201, r.text
    return r.json()


async def ids(client: httpx.AsyncClient, path: str, who: Member) -> list[str]:
    r = await client.get(path, headers=who.headers)
    assert r.status_code == 200, r.text
    return [a["id"] for a in r.json()["items"]]


async def test_an_editor_creates_and_edits_with_the_default_model(client: httpx.AsyncClient, team: Team) -> None:
    made = await create(client, team, description="Frågor om skolan",
                        model_kwargs={"temperature": 0.2, "max_tokens": 500})
    assert (made["completion_model_id"], made["prompt_version"], made["published"]) == (team.model, 1, False)
    assert made["model_kwargs"] == {"temperature": 0.2, "top_p": None, "max_tokens": 500}
    assert made["created_by"] == str(team.editor.id) and made["space_id"] == team.space
    path = f"/api/v1/assistants/{made['id']}/"
    r = await client.patch(path, json={"name": "Rektor", "published": True, "model_kwargs": {"top_p": 0.9}},
                           headers=team.editor.headers)
    assert r.status_code == 200, r.text
    got = (await client.get(path, headers=team.editor.headers)).json()
    assert (got["name"], got["published"], got["description"]) == ("Rektor", True, "Frågor om skolan")
    assert got["model_kwargs"] == {"temperature": None, "top_p": 0.9, "max_tokens": None}
    assert got["prompt_version"] == 1  # no prompt change, no new version
    other = await add_model(client, team.admin)
    r = await client.patch(path, json={"completion_model_id": other}, headers=team.editor.headers)
    assert r.json()["completion_model_id"] == other
    assert (await client.delete(path, headers=team.editor.headers)).status_code == 204
    assert (await client.get(path, headers=team.editor.headers)).status_code == 404


async def test_viewers_use_published_assistants_only(client: httpx.AsyncClient, team: Team) -> None:
    draft = await create(client, team, name="Utkast")
    live = await create(client, team, name="Publicerad", published=True)
    viewer = team.viewer
    r = await client.get(f"/api/v1/assistants/{draft['id']}/", headers=viewer.headers)
    assert (r.status_code, r.json()["code"]) == (404, "not_found") and "Utkast" not in r.text
    for method in ("PATCH", "DELETE"):
        r = await client.request(method, f"/api/v1/assistants/{draft['id']}/", json={"name": "x"},
                                 headers=viewer.headers)
        assert r.status_code == 404, method
    assert await ids(client, team.in_space(), viewer) == [live["id"]]
    assert await ids(client, "/api/v1/assistants/", viewer) == [live["id"]]
    assert await ids(client, team.in_space(), team.editor) == [draft["id"], live["id"]]
    assert await ids(client, "/api/v1/assistants/", team.editor) == [draft["id"], live["id"]]

    assert (await client.get(f"/api/v1/assistants/{live['id']}/", headers=viewer.headers)).status_code == 200
    for method, path in (("PATCH", f"/api/v1/assistants/{live['id']}/"),
                         ("DELETE", f"/api/v1/assistants/{live['id']}/"),
                         ("GET", f"/api/v1/assistants/{live['id']}/prompts/"),
                         ("POST", f"/api/v1/assistants/{live['id']}/prompts/1/restore/"),
                         ("POST", team.in_space())):
        r = await client.request(method, path, json={"name": "x"}, headers=viewer.headers)
        assert (r.status_code, r.json()["code"]) == (403, "space_role_required"), (method, path)
    got = (await client.get(f"/api/v1/assistants/{live['id']}/", headers=team.editor.headers)).json()
    assert got["name"] == "Publicerad"


async def test_non_members_and_other_tenants_get_404(client: httpx.AsyncClient, team: Team, make_user) -> None:
    made = await create(client, team, name="Hemlig", published=True)
    stranger = await make_user()  # another tenant's admin
    for who in (team.outsider, stranger):
        for method, path in (("GET", f"/api/v1/assistants/{made['id']}/"),
                             ("PATCH", f"/api/v1/assistants/{made['id']}/"),
                             ("DELETE", f"/api/v1/assistants/{made['id']}/"),
                             ("GET", f"/api/v1/assistants/{made['id']}/prompts/"),
                             ("POST", f"/api/v1/assistants/{made['id']}/prompts/1/restore/"),
                             ("GET", team.in_space()), ("POST", team.in_space())):
            r = await client.request(method, path, json={"name": "x"}, headers=who.headers)
            assert (r.status_code, r.json()["code"]) == (404, "not_found"), (method, path)
            assert "Hemlig" not in r.text
        assert made["id"] not in (await client.get("/api/v1/assistants/", headers=who.headers)).text
    got = (await client.get(f"/api/v1/assistants/{made['id']}/", headers=team.editor.headers)).json()
    assert got["name"] == "Hemlig"


async def test_prompt_versions_are_recorded_in_order_and_restored(client: httpx.AsyncClient, team: Team) -> None:
    made = await create(client, team, system_prompt="v1")
    path = f"/api/v1/assistants/{made['id']}/"
    for text in ("v2", "v3", "v3"):  # the same text twice is not a new version
        r = await client.patch(path, json={"system_prompt": text}, headers=team.editor.headers)
        assert r.status_code == 200
    assert r.json()["prompt_version"] == 3
    r = await client.post(f"{path}prompts/1/restore/", headers=team.admin.headers)
    assert (r.json()["system_prompt"], r.json()["prompt_version"]) == ("v1", 4)
    versions = (await client.get(f"{path}prompts/", headers=team.editor.headers)).json()
    assert [(v["version"], v["text"]) for v in versions["items"]] == [(4, "v1"), (3, "v3"), (2, "v2"), (1, "v1")]
    assert [v["created_by"] for v in versions["items"]] == [str(team.admin.id)] + [str(team.editor.id)] * 3

    seen, cursor = [], None
    while True:
        page = (await client.get(f"{path}prompts/", params={"limit": 3, **({"cursor": cursor} if cursor else {})},
                                 headers=team.editor.headers)).json()
        seen += [v["version"] for v in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert seen == [4, 3, 2, 1]
    r = await client.get(f"{path}prompts/", params={"cursor": "x"}, headers=team.editor.headers)
    assert (r.status_code, r.json()["code"]) == (400, "invalid_cursor")
    r = await client.post(f"{path}prompts/9/restore/", headers=team.editor.headers)
    assert (r.status_code, r.json()["message"]) == (404, "Prompt version not found")


async def test_concurrent_prompt_edits_each_get_a_version(client: httpx.AsyncClient, team: Team) -> None:
    made = await create(client, team, system_prompt="v1")
    path = f"/api/v1/assistants/{made['id']}/"
    answers = await asyncio.gather(*(client.patch(path, json={"system_prompt": f"edit {i}"},
                                                  headers=team.editor.headers) for i in range(4)))
    assert [r.status_code for r in answers] == [200] * 4
    versions = (await client.get(f"{path}prompts/", headers=team.editor.headers)).json()["items"]
    assert [v["version"] for v in versions] == [5, 4, 3, 2, 1]
    assert {v["text"] for v in versions[:4]} == {f"edit {i}" for i in range(4)}
    current = (await client.get(path, headers=team.editor.headers)).json()
    assert (current["prompt_version"], current["system_prompt"]) == (5, versions[0]["text"])


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"temperature": 2.5}, "model_kwargs.temperature"),
    ({"temperature": -0.1}, "model_kwargs.temperature"),
    ({"top_p": 1.5}, "model_kwargs.top_p"),
    ({"max_tokens": 0}, "model_kwargs.max_tokens"),
    ({"max_tokens": 1001}, "model_kwargs.max_tokens"),  # above the model's max_output_tokens
    ({"seed": 1}, "model_kwargs.seed"),
])
async def test_invalid_model_kwargs_name_the_field(client: httpx.AsyncClient, team: Team, kwargs, field) -> None:
    r = await client.post(team.in_space(), json={"name": "x", "model_kwargs": kwargs}, headers=team.editor.headers)
    assert r.status_code == 422, r.text
    assert [d["field"] for d in r.json()["details"]] == [field]
    made = await create(client, team)
    r = await client.patch(f"/api/v1/assistants/{made['id']}/", json={"model_kwargs": kwargs},
                           headers=team.editor.headers)
    assert (r.status_code, [d["field"] for d in r.json()["details"]]) == (422, [field])


async def test_the_model_must_be_an_enabled_model_of_the_tenant(client: httpx.AsyncClient, team: Team,
                                                              make_user) -> None:
    stranger = await make_user()
    foreign = await add_model(client, stranger)
    disabled = await add_model(client, team.admin, enabled=False)
    made = await create(client, team)
    for model in (foreign, disabled, str(uuid.uuid4())):
        r = await client.post(team.in_space(), json={"name": "x", "completion_model_id": model},
                              headers=team.editor.headers)
        assert (r.status_code, [d["field"] for d in r.json()["details"]]) == (422, ["completion_model_id"])
        r = await client.patch(f"/api/v1/assistants/{made['id']}/", json={"completion_model_id": model},
                               headers=team.editor.headers)
        assert (r.status_code, [d["field"] for d in r.json()["details"]]) == (422, ["completion_model_id"])
    # Without a default, the model must be named.
    r = await client.patch(f"{MODELS}{team.model}/", json={"is_default": False}, headers=team.admin.headers)
    assert r.status_code == 200
    r = await client.post(team.in_space(), json={"name": "x"}, headers=team.editor.headers)
    assert (r.status_code, r.json()["details"][0]["field"]) == (422, "completion_model_id")
    assert "no default model" in r.json()["message"]


async def test_an_assistant_api_key_reaches_its_own_assistant_only(client: httpx.AsyncClient, team: Team) -> None:
    mine = await create(client, team, name="Min")
    other = await create(client, team, name="Annan")
    r = await client.post("/api/v1/api-keys/", json={"name": "bot", "scope": "assistant", "assistant_id": mine["id"]},
                          headers=team.editor.headers)
    assert r.status_code == 201, r.text
    key = {"X-API-Key": r.json()["key"]}
    r = await client.get(f"/api/v1/assistants/{mine['id']}/", headers=key)
    assert r.status_code == 200 and r.json()["name"] == "Min"
    r = await client.get(f"/api/v1/assistants/{other['id']}/", headers=key)
    assert (r.status_code, r.json()["code"]) == (403, "api_key_scope")
    for method, path in (("GET", "/api/v1/assistants/"), ("PATCH", f"/api/v1/assistants/{mine['id']}/"),
                         ("GET", team.in_space()), ("GET", "/api/v1/spaces/")):
        r = await client.request(method, path, json={"name": "x"}, headers=key)
        assert (r.status_code, r.json()["code"]) == (403, "api_key_scope"), (method, path)


async def test_usable_assistant_for_other_functions(team: Team, client: httpx.AsyncClient) -> None:
    from eneo.api_keys.models import KeyScope
    from eneo.assistants.service import usable_assistant

    draft = await create(client, team)
    live = await create(client, team, published=True)

    def principal(m: Member, **kw: Any) -> Principal:
        return Principal(m.id, m.tenant_id, m.email, UserRole.user, "token", **kw)

    async with UnitOfWork(team.admin.tenant_id) as uow:
        assert str((await usable_assistant(uow, principal(team.viewer), uuid.UUID(live["id"]))).id) == live["id"]
        assert str((await usable_assistant(uow, principal(team.editor), uuid.UUID(draft["id"]))).id) == draft["id"]
        for who, aid in ((team.viewer, draft["id"]), (team.outsider, live["id"])):
            with pytest.raises(NotFound):
                await usable_assistant(uow, principal(who), uuid.UUID(aid))
        scoped = principal(team.editor, key_scope=KeyScope.assistant, assistant_id=uuid.UUID(draft["id"]))
        assert (await usable_assistant(uow, scoped, uuid.UUID(draft["id"]))).name == "Rektorn"
        with pytest.raises(Forbidden):
            await usable_assistant(uow, scoped, uuid.UUID(live["id"]))


async def test_deleting_the_space_deletes_its_assistants(client: httpx.AsyncClient, team: Team) -> None:
    made = await create(client, team)
    assert (await client.delete(f"/api/v1/spaces/{team.space}/", headers=team.admin.headers)).status_code == 204
    assert (await client.get(f"/api/v1/assistants/{made['id']}/", headers=team.admin.headers)).status_code == 404
    assert (await client.delete(f"{MODELS}{team.model}/", headers=team.admin.headers)).status_code == 204


async def test_assistant_lists_page(client: httpx.AsyncClient, team: Team) -> None:
    made = [(await create(client, team, name=f"a{i}", published=True))["id"] for i in range(5)]
    for path in (team.in_space(), "/api/v1/assistants/"):
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = (await client.get(path, params=params, headers=team.viewer.headers)).json()
            seen += [a["id"] for a in page["items"]]
            if not (cursor := page["next_cursor"]):
                break
        assert seen == made, path
