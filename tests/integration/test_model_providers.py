"""Model providers and completion models through the models function, against real Postgres.

What an admin notices: keys go in and never come back out (and are not readable in the database),
each type asks for what it needs, one default model, nothing of another tenant reachable.
"""

import asyncio
import uuid
from typing import Any

import httpx
import psycopg
import pytest

from eneo.core.crypto import aad_for, decrypt_secret
from eneo.core.db import UnitOfWork
from eneo.core.errors import NotFound
from eneo.model_providers.clients import chat_target
from eneo.model_providers.service import default_model, ensure_managed_provider
from eneo.users.models import UserRole
from eneo_local.services import Endpoints
from tests.integration.conftest import Member, Org

KEY = "sk-test-4f9a1c7e2b8d0a6f3e5c9b1d7a2e4f6c"
PROVIDERS = "/api/v1/admin/model-providers/"
MODELS = "/api/v1/completion-models/"


async def make_provider(client: httpx.AsyncClient, admin: Member, **body: Any) -> dict[str, Any]:
    body = {"name": f"p-{uuid.uuid4().hex[:6]}", "type": "openai", "api_key": KEY, **body}
    r = await client.post(PROVIDERS, json=body, headers=admin.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def make_model(client: httpx.AsyncClient, admin: Member, provider: str, **body: Any) -> dict[str, Any]:
    body = {"provider_id": provider, "name": f"m-{uuid.uuid4().hex[:6]}", "context_window": 8192, **body}
    r = await client.post(MODELS, json=body, headers=admin.headers)
    assert r.status_code == 201, r.text
    return r.json()


def raw_credentials(db: Endpoints, provider_id: str) -> bytes:
    """The stored column, read as the owner role (no RLS, no application code in between)."""
    with psycopg.connect(db.database_migration_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        row = conn.execute("SELECT credentials_encrypted FROM model_providers WHERE id = %s", [provider_id]).fetchone()
    assert row is not None
    return bytes(row[0])


async def test_the_key_is_never_returned_and_is_encrypted_at_rest(client: httpx.AsyncClient, make_user,
                                                                 db: Endpoints) -> None:
    admin = await make_user()
    created = await make_provider(client, admin, name="OpenAI")
    assert (created["has_api_key"], created["api_key_last4"]) == (True, KEY[-4:])
    pid = created["id"]
    texts = [
        (await client.get(PROVIDERS, headers=admin.headers)).text,
        (await client.get(f"{PROVIDERS}{pid}/", headers=admin.headers)).text,
        (await client.patch(f"{PROVIDERS}{pid}/", json={"name": "OpenAI EU"}, headers=admin.headers)).text,
    ]
    for text in texts:
        assert KEY not in text and KEY[3:-4] not in text
    assert "credentials" not in texts[1]

    blob = raw_credentials(db, pid)
    assert KEY.encode() not in blob and KEY[3:-4].encode() not in blob
    assert decrypt_secret(blob, aad_for(admin.tenant_id, uuid.UUID(pid))) == KEY

    # Replacing the key re-encrypts; the old one is gone.
    new_key = "sk-replacement-key-0000000000000000wxyz"
    r = await client.patch(f"{PROVIDERS}{pid}/", json={"api_key": new_key}, headers=admin.headers)
    assert r.status_code == 200 and new_key not in r.text and r.json()["api_key_last4"] == "wxyz"
    assert decrypt_secret(raw_credentials(db, pid), aad_for(admin.tenant_id, uuid.UUID(pid))) == new_key

    # A short key shows no last four characters at all.
    short = await make_provider(client, admin, api_key="abc123xyz")
    assert (short["has_api_key"], short["api_key_last4"]) == (True, None)


async def test_each_type_asks_for_what_it_needs(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    cases = [
        ({"type": "azure", "api_key": KEY}, {"endpoint", "api_version"}),
        ({"type": "openai"}, {"api_key"}),
        ({"type": "anthropic", "endpoint": "https://x.example.org"}, {"api_key", "endpoint"}),
        ({"type": "openai_compatible"}, {"base_url"}),
        ({"type": "openai_compatible", "base_url": "ftp://models.example.org"}, {"base_url"}),
        ({"type": "openai_compatible", "base_url": "http://user:pw@models.example.org"}, {"base_url"}),
        ({"type": "azure", "api_key": KEY, "endpoint": "https://r.openai.azure.com", "api_version": "1 2"},
         {"api_version"}),
        ({"type": "gemini", "api_key": KEY}, {"type"}),
    ]
    for body, fields in cases:
        r = await client.post(PROVIDERS, json={"name": "x", **body}, headers=admin.headers)
        assert r.status_code == 422, (body, r.text)
        assert {d["field"] for d in r.json()["details"]} == fields, body
        assert KEY not in r.text

    ok = [
        {"type": "azure", "api_key": KEY, "endpoint": "https://r.openai.azure.com/", "api_version": "2024-06-01"},
        {"type": "openai_compatible", "base_url": "http://127.0.0.1:8080/v1"},
        {"type": "anthropic", "api_key": KEY},
    ]
    for body in ok:
        made = await make_provider(client, admin, **{"api_key": None, **body})
        assert made["has_api_key"] == ("api_key" in body)
    azure = await make_provider(client, admin, **ok[0])
    assert (azure["endpoint"], azure["base_url"]) == ("https://r.openai.azure.com", None)
    # A key can be removed only where the type does without one.
    r = await client.patch(f"{PROVIDERS}{azure['id']}/", json={"api_key": None}, headers=admin.headers)
    assert (r.status_code, r.json()["details"][0]["field"]) == (422, "api_key")
    local = await make_provider(client, admin, type="openai_compatible", base_url="http://llm.internal/v1")
    r = await client.patch(f"{PROVIDERS}{local['id']}/", json={"api_key": None}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["has_api_key"] is False


async def test_provider_names_are_unique_per_tenant(client: httpx.AsyncClient, make_user) -> None:
    admin, other = await make_user(), await make_user()
    await make_provider(client, admin, name="Azure")
    r = await client.post(PROVIDERS, json={"name": "Azure", "type": "openai", "api_key": KEY}, headers=admin.headers)
    assert (r.status_code, r.json()["code"]) == (409, "provider_name_taken")
    await make_provider(client, other, name="Azure")  # another tenant may


async def test_only_tenant_admins_reach_providers(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    user = await make_user(Org(admin.tenant_id, ""), UserRole.user)
    pid = (await make_provider(client, admin))["id"]
    mid = (await make_model(client, admin, pid))["id"]
    for method, path in (("POST", PROVIDERS), ("GET", PROVIDERS), ("GET", f"{PROVIDERS}{pid}/"),
                         ("PATCH", f"{PROVIDERS}{pid}/"), ("DELETE", f"{PROVIDERS}{pid}/"),
                         ("POST", f"{PROVIDERS}{pid}/test/"), ("POST", MODELS), ("PATCH", f"{MODELS}{mid}/"),
                         ("DELETE", f"{MODELS}{mid}/")):
        body = {"name": "x", "type": "openai", "api_key": KEY} if path == PROVIDERS else {"name": "x"}
        if path == MODELS:
            body = {"provider_id": pid, "name": "x", "context_window": 10}
        r = await client.request(method, path, json=body, headers=user.headers)
        assert (r.status_code, r.json()["code"]) == (403, "permission_required"), (method, path)
    # Everyone may read the enabled models.
    r = await client.get(MODELS, headers=user.headers)
    assert [m["id"] for m in r.json()["items"]] == [mid]
    assert (await client.get(f"{MODELS}{mid}/", headers=user.headers)).status_code == 200


async def test_another_tenant_gets_404_on_every_id_route(client: httpx.AsyncClient, make_user) -> None:
    admin, stranger = await make_user(), await make_user()
    pid = (await make_provider(client, admin, name="Secret provider"))["id"]
    mid = (await make_model(client, admin, pid, display_name="Secret model"))["id"]
    for method, path, body in (
        ("GET", f"{PROVIDERS}{pid}/", None), ("PATCH", f"{PROVIDERS}{pid}/", {"name": "stolen"}),
        ("DELETE", f"{PROVIDERS}{pid}/", None), ("POST", f"{PROVIDERS}{pid}/test/", None),
        ("GET", f"{MODELS}{mid}/", None), ("PATCH", f"{MODELS}{mid}/", {"enabled": False}),
        ("DELETE", f"{MODELS}{mid}/", None),
    ):
        r = await client.request(method, path, json=body, headers=stranger.headers)
        assert (r.status_code, r.json()["code"]) == (404, "not_found"), (method, path)
        assert "Secret" not in r.text
    for path in (PROVIDERS, f"{MODELS}?include_disabled=true"):
        r = await client.get(path, headers=stranger.headers)
        assert r.status_code == 200 and pid not in r.text and mid not in r.text
    # Nor can another tenant's provider carry this tenant's model.
    r = await client.post(MODELS, json={"provider_id": pid, "name": "x", "context_window": 10},
                          headers=stranger.headers)
    assert (r.status_code, r.json()["details"][0]["field"]) == (422, "provider_id")
    r = await client.get(f"{MODELS}{mid}/", headers=admin.headers)
    assert (r.json()["display_name"], r.json()["enabled"]) == ("Secret model", True)
    async with UnitOfWork(stranger.tenant_id) as uow:
        with pytest.raises(NotFound):
            await chat_target(uow, uuid.UUID(mid))


async def test_one_default_model_per_tenant(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    pid = (await make_provider(client, admin))["id"]
    first = await make_model(client, admin, pid, is_default=True)
    second = await make_model(client, admin, pid, is_default=True)

    async def defaults() -> list[str]:
        items = (await client.get(MODELS, params={"include_disabled": "true"}, headers=admin.headers)).json()["items"]
        return [m["id"] for m in items if m["is_default"]]

    assert await defaults() == [second["id"]]
    r = await client.patch(f"{MODELS}{first['id']}/", json={"is_default": True}, headers=admin.headers)
    assert r.json()["is_default"] is True and await defaults() == [first["id"]]
    # Disabling the default leaves none; a disabled model cannot become the default.
    r = await client.patch(f"{MODELS}{first['id']}/", json={"enabled": False}, headers=admin.headers)
    assert (r.json()["enabled"], r.json()["is_default"]) == (False, False) and await defaults() == []
    r = await client.patch(f"{MODELS}{first['id']}/", json={"is_default": True}, headers=admin.headers)
    assert (r.status_code, r.json()["details"][0]["field"]) == (422, "is_default")
    r = await client.patch(f"{MODELS}{first['id']}/", json={"is_default": True, "enabled": True},
                           headers=admin.headers)
    assert r.json()["is_default"] is True and await defaults() == [first["id"]]
    async with UnitOfWork(admin.tenant_id) as uow:
        found = await default_model(uow)
        assert found is not None and str(found.id) == first["id"]


async def test_concurrent_default_changes_leave_exactly_one(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    pid = (await make_provider(client, admin))["id"]
    made = [(await make_model(client, admin, pid, is_default=i == 0))["id"] for i in range(4)]
    answers = await asyncio.gather(*(client.patch(f"{MODELS}{mid}/", json={"is_default": True}, headers=admin.headers)
                                     for mid in made))
    assert [r.status_code for r in answers] == [200] * 4
    items = (await client.get(MODELS, headers=admin.headers)).json()["items"]
    assert sum(m["is_default"] for m in items) == 1


async def test_models_validate_their_limits_and_names(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    pid = (await make_provider(client, admin))["id"]
    made = await make_model(client, admin, pid, name="gpt-4o", max_output_tokens=4096)
    assert (made["display_name"], made["provider_type"]) == ("gpt-4o", "openai")
    for body, field in (({"context_window": 0}, "context_window"),
                        ({"context_window": 100, "max_output_tokens": 200}, "max_output_tokens"),
                        ({"context_window": 100, "is_default": True, "enabled": False}, "is_default")):
        r = await client.post(MODELS, json={"provider_id": pid, "name": "x", **body}, headers=admin.headers)
        assert (r.status_code, r.json()["details"][0]["field"]) == (422, field), body
    r = await client.post(MODELS, json={"provider_id": pid, "name": "gpt-4o", "context_window": 5},
                          headers=admin.headers)
    assert (r.status_code, r.json()["code"]) == (409, "model_name_taken")
    r = await client.patch(f"{MODELS}{made['id']}/", json={"context_window": 1000}, headers=admin.headers)
    assert (r.status_code, r.json()["details"][0]["field"]) == (422, "max_output_tokens")


async def test_users_see_enabled_models_only(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    user = await make_user(Org(admin.tenant_id, ""), UserRole.user)
    pid = (await make_provider(client, admin))["id"]
    on = await make_model(client, admin, pid)
    off = await make_model(client, admin, pid, enabled=False)
    assert [m["id"] for m in (await client.get(MODELS, headers=user.headers)).json()["items"]] == [on["id"]]
    assert [m["id"] for m in (await client.get(MODELS, headers=admin.headers)).json()["items"]] == [on["id"]]
    everything = (await client.get(MODELS, params={"include_disabled": "true"}, headers=admin.headers)).json()
    assert [m["id"] for m in everything["items"]] == [on["id"], off["id"]]
    r = await client.get(MODELS, params={"include_disabled": "true"}, headers=user.headers)
    assert (r.status_code, r.json()["code"]) == (403, "permission_required")
    assert (await client.get(f"{MODELS}{off['id']}/", headers=user.headers)).status_code == 404
    assert (await client.get(f"{MODELS}{off['id']}/", headers=admin.headers)).status_code == 200


async def test_a_provider_with_models_is_not_deleted(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    pid = (await make_provider(client, admin))["id"]
    mid = (await make_model(client, admin, pid))["id"]
    r = await client.delete(f"{PROVIDERS}{pid}/", headers=admin.headers)
    assert (r.status_code, r.json()["code"]) == (409, "provider_in_use")
    assert "1 completion model" in r.json()["message"]
    assert (await client.delete(f"{MODELS}{mid}/", headers=admin.headers)).status_code == 204
    assert (await client.delete(f"{PROVIDERS}{pid}/", headers=admin.headers)).status_code == 204
    assert (await client.get(f"{PROVIDERS}{pid}/", headers=admin.headers)).status_code == 404


async def test_a_model_assistants_use_is_disabled_not_deleted(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    pid = (await make_provider(client, admin))["id"]
    mid = (await make_model(client, admin, pid))["id"]
    space = (await client.post("/api/v1/spaces/", json={"name": "S"}, headers=admin.headers)).json()["id"]
    for name in ("a", "b"):
        r = await client.post(f"/api/v1/spaces/{space}/applications/assistants/",
                              json={"name": name, "completion_model_id": mid}, headers=admin.headers)
        assert r.status_code == 201, r.text
    r = await client.delete(f"{MODELS}{mid}/", headers=admin.headers)
    assert (r.status_code, r.json()["code"]) == (409, "model_in_use")
    assert r.json()["message"].startswith("2 assistant(s) use this model")
    r = await client.patch(f"{MODELS}{mid}/", json={"enabled": False}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["enabled"] is False
    async with UnitOfWork(admin.tenant_id) as uow:
        target = await chat_target(uow, uuid.UUID(mid))
    assert target.enabled is False  # the complete function refuses to answer with it


async def test_chat_target_carries_the_decrypted_key(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    azure = await make_provider(client, admin, type="azure", endpoint="https://r.openai.azure.com",
                                api_version="2024-06-01")
    mid = (await make_model(client, admin, azure["id"], name="my-deployment", context_window=128000,
                            max_output_tokens=4096))["id"]
    async with UnitOfWork(admin.tenant_id) as uow:
        target = await chat_target(uow, uuid.UUID(mid))
    assert (target.config.type, target.config.api_key, target.config.endpoint, target.config.api_version) == (
        "azure", KEY, "https://r.openai.azure.com", "2024-06-01")
    assert (target.model, target.context_window, target.max_output_tokens, target.enabled) == (
        "my-deployment", 128000, 4096, True)
    assert KEY not in repr(target)
    async with UnitOfWork(admin.tenant_id) as uow:
        with pytest.raises(NotFound):
            await chat_target(uow, uuid.uuid4())


async def test_the_managed_provider_is_registered_once_and_respects_the_admin(client: httpx.AsyncClient,
                                                                              make_user) -> None:
    admin = await make_user()
    await make_provider(client, admin, name="Local", type="openai_compatible", base_url="http://other/v1")

    async def ensure(base_url: str = "http://127.0.0.1:8081/v1", model: str = "smollm2") -> None:
        async with UnitOfWork(admin.tenant_id) as uow:
            await ensure_managed_provider(uow, name="Local", base_url=base_url, model=model,
                                          display_name="SmolLM2", context_window=2048)

    await ensure()
    await ensure()  # every start calls it
    providers = (await client.get(PROVIDERS, headers=admin.headers)).json()["items"]
    managed = [p for p in providers if p["managed"]]
    assert [(p["name"], p["base_url"], p["has_api_key"], p["local"]) for p in managed] == [
        ("Local (managed)", "http://127.0.0.1:8081/v1", False, True)]  # the deployment's own: local
    assert [p["local"] for p in providers if not p["managed"]] == [False]
    models = (await client.get(MODELS, headers=admin.headers)).json()["items"]
    assert [(m["name"], m["display_name"], m["is_default"], m["local"]) for m in models] == [
        ("smollm2", "SmolLM2", True, True)]
    mid, pid = models[0]["id"], managed[0]["id"]

    for method, body in (("PATCH", {"base_url": "http://evil/v1"}), ("DELETE", None)):
        r = await client.request(method, f"{PROVIDERS}{pid}/", json=body, headers=admin.headers)
        assert (r.status_code, r.json()["code"]) == (409, "managed_provider")

    # A new address is picked up; an admin's disabling is not undone.
    assert (await client.patch(f"{MODELS}{mid}/", json={"enabled": False}, headers=admin.headers)).status_code == 200
    await ensure(base_url="http://127.0.0.1:9000/v1")
    r = await client.get(f"{PROVIDERS}{pid}/", headers=admin.headers)
    assert r.json()["base_url"] == "http://127.0.0.1:9000/v1"
    r = await client.get(f"{MODELS}{mid}/", headers=admin.headers)
    assert (r.json()["enabled"], r.json()["is_default"]) == (False, False)

    # Nor is an admin's deletion. A model the deployment newly ships is added, and made the default
    # because the tenant has none left.
    assert (await client.delete(f"{MODELS}{mid}/", headers=admin.headers)).status_code == 204
    await ensure(model="smollm2-360m")
    await ensure()
    names = [(m["name"], m["is_default"]) for m in (await client.get(
        MODELS, params={"include_disabled": "true"}, headers=admin.headers)).json()["items"]]
    assert names == [("smollm2-360m", True)]


@pytest.mark.parametrize("kind", ["openai", "azure", "anthropic", "openai_compatible"])
async def test_connection_against_the_real_wire_formats(client: httpx.AsyncClient, make_user, kind: str) -> None:
    from tests.fakes.llm_server import FakeLLMServer

    admin = await make_user()
    with FakeLLMServer(api_key=KEY) as fake:
        where = {"azure": {"endpoint": fake.azure_endpoint, "api_version": "2024-10-21"},
                 "anthropic": {"base_url": fake.anthropic_url}}.get(kind, {"base_url": fake.openai_url})
        pid = (await make_provider(client, admin, type=kind, **where))["id"]
        test = f"{PROVIDERS}{pid}/test/"
        body = {"model": "gpt-test"} if kind in ("azure", "openai_compatible") else None
        r = await client.post(test, json=body, headers=admin.headers)
        assert (r.status_code, r.json()) == (200, {"ok": True, "code": None, "message": None,
                                                   "provider_status": None})
        assert fake.requests[-1].key_ok  # the decrypted key reached the provider

        wrong = "sk-wrong-key-0000000000000000000000000000"
        await client.patch(f"{PROVIDERS}{pid}/", json={"api_key": wrong}, headers=admin.headers)
        r = await client.post(test, json=body, headers=admin.headers)
        assert r.status_code == 200, r.text
        assert (r.json()["ok"], r.json()["code"], r.json()["provider_status"]) == (
            False, "provider_auth_failed", 401)
        assert r.json()["message"] and wrong not in r.text and KEY not in r.text and wrong[-8:] not in r.text
        assert not fake.requests[-1].key_ok


async def test_a_stored_key_never_follows_a_new_address(client: httpx.AsyncClient, make_user) -> None:
    """An admin who moves a keyed provider to another server must enter the key again: else "test
    connection" would hand the stored key to whatever server the admin pointed it at."""
    from tests.fakes.llm_server import FakeLLMServer

    admin = await make_user()
    with FakeLLMServer(api_key=KEY) as home, FakeLLMServer(api_key=KEY) as elsewhere:
        keyed = {"openai": {"base_url": home.openai_url},
                 "azure": {"endpoint": home.azure_endpoint, "api_version": "2024-10-21"}}
        moves = {"openai": {"base_url": elsewhere.openai_url}, "azure": {"endpoint": elsewhere.azure_endpoint}}
        for kind, where in keyed.items():
            pid = (await make_provider(client, admin, type=kind, **where))["id"]
            r = await client.patch(f"{PROVIDERS}{pid}/", json=moves[kind], headers=admin.headers)
            assert r.status_code == 422, (kind, r.text)
            assert [d["field"] for d in r.json()["details"]] == ["api_key"]
            assert "key" in r.json()["details"][0]["message"] and KEY not in r.text
            got = (await client.get(f"{PROVIDERS}{pid}/", headers=admin.headers)).json()
            assert {k: got[k] for k in where} == where  # nothing changed
            r = await client.post(f"{PROVIDERS}{pid}/test/", json={"model": "gpt-test"}, headers=admin.headers)
            assert r.json()["ok"] is True and home.requests[-1].key_ok

            # Unchanged addresses and other fields need no key.
            r = await client.patch(f"{PROVIDERS}{pid}/", json={"name": f"{kind} 2", **where}, headers=admin.headers)
            assert r.status_code == 200, r.text
            # With the key in the same request the move is allowed, and only that key goes there.
            other = "sk-elsewhere-key-000000000000000000000000"
            r = await client.patch(f"{PROVIDERS}{pid}/", json={**moves[kind], "api_key": other},
                                   headers=admin.headers)
            assert r.status_code == 200 and r.json()["api_key_last4"] == other[-4:], r.text
            r = await client.post(f"{PROVIDERS}{pid}/test/", json={"model": "gpt-test"}, headers=admin.headers)
            assert r.json()["code"] == "provider_auth_failed"
        assert elsewhere.requests and not any(req.key_ok for req in elsewhere.requests)  # never got KEY

        # A provider without a key moves freely; one whose key is removed in the same request too.
        local = await make_provider(client, admin, type="openai_compatible", api_key=None, base_url=home.openai_url)
        r = await client.patch(f"{PROVIDERS}{local['id']}/", json={"base_url": elsewhere.openai_url},
                               headers=admin.headers)
        assert r.status_code == 200, r.text
        keyed_local = await make_provider(client, admin, type="openai_compatible", base_url=home.openai_url)
        r = await client.patch(f"{PROVIDERS}{keyed_local['id']}/", json={"base_url": elsewhere.openai_url,
                                                                          "api_key": None}, headers=admin.headers)
        assert r.status_code == 200 and r.json()["has_api_key"] is False


async def test_an_unreachable_provider_is_a_result_not_an_error(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    pid = (await make_provider(client, admin, type="openai_compatible", base_url="http://127.0.0.1:9/v1"))["id"]
    r = await client.post(f"{PROVIDERS}{pid}/test/", headers=admin.headers)
    assert r.status_code == 200 and r.json()["ok"] is False and r.json()["code"] == "provider_unreachable"
    assert KEY not in r.text


async def test_row_level_security_hides_other_tenants_rows(client: httpx.AsyncClient, make_user,
                                                           db: Endpoints) -> None:
    """The second wall, for this domain's four tables: an unfiltered query sees only the bound tenant."""
    a, b = await make_user(), await make_user()
    for who in (a, b):
        pid = (await make_provider(client, who))["id"]
        mid = (await make_model(client, who, pid))["id"]
        space = (await client.post("/api/v1/spaces/", json={"name": "S"}, headers=who.headers)).json()["id"]
        r = await client.post(f"/api/v1/spaces/{space}/applications/assistants/",
                              json={"name": "x", "completion_model_id": mid}, headers=who.headers)
        assert r.status_code == 201
    tables = ("model_providers", "completion_models", "assistants", "assistant_prompts")
    with psycopg.connect(db.database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        for table in tables:
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table  # noqa: S608
        with conn.transaction():
            conn.execute("SELECT set_config('app.tenant_id', %s, true)", [str(a.tenant_id)])
            for table in tables:
                seen = {r[0] for r in conn.execute(f"SELECT DISTINCT tenant_id FROM {table}")}  # noqa: S608
                assert seen == {a.tenant_id}, table


def test_provider_messages_never_echo_a_key() -> None:
    from eneo.model_providers.service import _redact

    message = f"Incorrect API key provided: {KEY[:8]}****************{KEY[-4:]} (or {KEY})"
    redacted = _redact(message, KEY)
    assert KEY not in redacted and KEY[-4:] not in redacted and redacted.startswith("Incorrect API key provided: ")
    assert _redact("Could not reach models.example.org", None) == "Could not reach models.example.org"
