"""Single sign-on through a real OpenID Connect provider on 127.0.0.1 (`oidc-provider`, tests/fakes/oidc_provider):
just-in-time users with roles and user groups from the groups claim, a state from another browser, a replayed
state and a wrong PKCE verifier refused, password sign-in turned off, and another tenant's provider configuration
out of reach."""

import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from eneo.core.redis import get_redis
from eneo.sso.service import _state_key
from eneo.users.models import UserRole
from tests.fakes.oidc_provider import OidcProvider, sign_in_at_provider
from tests.integration.conftest import PASSWORD, Member, Org
from tests.integration.test_audit import entries

DOC = Path(__file__).resolve().parents[2] / "docs" / "sso.md"
PROVIDERS = "/api/v1/sso/providers/"
REDIRECT = "http://127.0.0.1:9/sso/callback"
CLIENT_ID, CLIENT_SECRET = "eneo-tests", "a-client-secret-for-the-tests-only"
ALICE = {"email": "alice@kommun.example", "email_verified": True, "name": "Alice Admin", "groups": ["eneo-admins"]}
BOB = {"email": "bob@kommun.example", "email_verified": True, "name": "Bob Staff", "groups": ["staff", "x"]}
CAROL = {"email": "carol@kommun.example", "email_verified": True, "name": "Carol Case", "groups": ["socialtjanst"]}


@pytest.fixture(scope="module")
def op() -> Iterator[OidcProvider]:
    client = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [REDIRECT],
              "grant_types": ["authorization_code"], "response_types": ["code"]}
    with OidcProvider([client], {"alice": ALICE, "bob": BOB, "carol": CAROL}) as provider:
        yield provider


async def configure(client: httpx.AsyncClient, admin: Member, op: OidcProvider, **extra: Any) -> dict[str, Any]:
    body = {"name": "Kommun-ID", "issuer": op.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "role_mappings": [{"value": "eneo-admins", "role": "admin"}]} | extra
    r = await client.post(PROVIDERS, json=body, headers=admin.headers)
    assert r.status_code == 201, r.text
    return r.json()


async def start(client: httpx.AsyncClient, tenant: str) -> tuple[str, str]:
    """The authorization URL and state of a new sign-in; checks the state went into the httpOnly cookie."""
    r = await client.post("/api/v1/sso/start/", json={"tenant": tenant, "redirect_uri": REDIRECT})
    assert r.status_code == 200, r.text
    state = r.json()["state"]
    cookie = r.headers["set-cookie"]
    assert f"eneo_sso_state={state}" in cookie and "HttpOnly" in cookie
    return r.json()["authorization_url"], state


async def callback(client: httpx.AsyncClient, back: dict[str, str], cookie: str | None = None) -> httpx.Response:
    return await client.post("/api/v1/sso/callback/", json={"code": back["code"], "state": back["state"]},
                             headers={"Cookie": f"eneo_sso_state={cookie or back['state']}"})


async def sign_in(client: httpx.AsyncClient, tenant: str, account: str) -> httpx.Response:
    url, state = await start(client, tenant)
    back = sign_in_at_provider(url, account)
    assert back["state"] == state
    return await callback(client, back)


async def me(client: httpx.AsyncClient, token_answer: httpx.Response) -> dict[str, Any]:
    assert token_answer.status_code == 200, token_answer.text
    r = await client.get("/api/v1/users/me/",
                         headers={"Authorization": f"Bearer {token_answer.json()['access_token']}"})
    assert r.status_code == 200, r.text
    return r.json()


async def test_sign_in_creates_users_with_the_mapped_role(client: httpx.AsyncClient, make_user: Callable[..., Any],
                                                           op: OidcProvider) -> None:
    admin = await make_user()
    tenant = Org(admin.tenant_id, "")
    provider = await configure(client, admin, op)
    assert provider["has_client_secret"] is True and CLIENT_SECRET not in json.dumps(provider)
    options = (await client.get("/api/v1/sso/sign-in-options/", params={"tenant": str(tenant.id)})).json()
    assert options == {"password_login": True, "providers": [{"id": provider["id"], "name": "Kommun-ID"}]}

    alice = await me(client, await sign_in(client, str(tenant.id), "alice"))
    assert (alice["email"], alice["name"], alice["role"], alice["tenant_id"]) == (
        ALICE["email"], "Alice Admin", "admin", str(tenant.id))
    bob = await me(client, await sign_in(client, str(tenant.id), "bob"))
    assert (bob["email"], bob["role"]) == (BOB["email"], "user")
    # Alice again: the same account (by the provider's subject), not a second one.
    assert (await me(client, await sign_in(client, str(tenant.id), "alice")))["id"] == alice["id"]
    users = (await client.get("/api/v1/users/", headers=admin.headers)).json()["items"]
    assert sorted(u["email"] for u in users) == sorted([admin.email, ALICE["email"], BOB["email"]])

    # The mapping changes at the organisation: the next sign-in carries it.
    r = await client.patch(f"{PROVIDERS}{provider['id']}/", headers=admin.headers,
                           json={"role_mappings": [{"value": "staff", "role": "admin"}]})
    assert r.status_code == 200, r.text
    assert (await me(client, await sign_in(client, str(tenant.id), "bob")))["role"] == "admin"
    assert (await me(client, await sign_in(client, str(tenant.id), "alice")))["role"] == "user"

    logged = await entries(client, admin, action="auth.sso_login")
    assert [e["outcome"] for e in logged] == ["success"] * 5
    assert {e["target_label"] for e in logged} == {ALICE["email"], BOB["email"]}
    changes = [e["action"] for e in await entries(client, admin, action="sso_provider.")]
    assert changes == ["sso_provider.updated", "sso_provider.created"]


async def test_a_state_from_another_browser_or_used_twice_is_refused(client: httpx.AsyncClient,
                                                                     make_user: Callable[..., Any],
                                                                     op: OidcProvider) -> None:
    admin = await make_user()
    await configure(client, admin, op)
    url, _ = await start(client, str(admin.tenant_id))
    back = sign_in_at_provider(url, "bob")
    _, other_state = await start(client, str(admin.tenant_id))  # this browser's cookie holds another sign-in
    r = await callback(client, back, cookie=other_state)
    assert (r.status_code, r.json()["code"]) == (400, "sso_state_mismatch"), r.text
    r = await client.post("/api/v1/sso/callback/", json={"code": back["code"], "state": back["state"]})
    assert (r.status_code, r.json()["code"]) == (400, "sso_state_mismatch"), r.text  # no cookie at all

    assert (await callback(client, back)).status_code == 200
    r = await callback(client, back)  # replayed
    assert (r.status_code, r.json()["code"]) == (400, "sso_state_invalid"), r.text


async def test_a_wrong_pkce_verifier_is_refused_by_the_provider(client: httpx.AsyncClient,
                                                                make_user: Callable[..., Any],
                                                                op: OidcProvider) -> None:
    admin = await make_user()
    await configure(client, admin, op)
    url, state = await start(client, str(admin.tenant_id))
    back = sign_in_at_provider(url, "alice")
    # Someone holding the code without this sign-in's verifier: the provider refuses to redeem it.
    redis = get_redis()
    pending = json.loads(await redis.get(_state_key(state)))
    await redis.set(_state_key(state), json.dumps(pending | {"verifier": "x" * 43}), ex=60)
    r = await callback(client, back)
    assert (r.status_code, r.json()["code"]) == (401, "sso_token_refused"), r.text
    assert "invalid_grant" in r.json()["message"]
    users = (await client.get("/api/v1/users/", headers=admin.headers)).json()["items"]
    assert [u["email"] for u in users] == [admin.email]  # nobody was created
    failed = await entries(client, admin, action="auth.sso_login")
    assert [(e["outcome"], e["details"]["code"]) for e in failed] == [("failure", "sso_token_refused")]


async def test_password_sign_in_can_be_turned_off(client: httpx.AsyncClient, make_user: Callable[..., Any],
                                                  op: OidcProvider) -> None:
    admin = await make_user()
    provider = await configure(client, admin, op)
    r = await client.patch(f"{PROVIDERS}{provider['id']}/", json={"password_login": False}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["password_login"] is False
    r = await client.post("/api/v1/users/login/token/", data={"username": admin.email, "password": PASSWORD})
    assert (r.status_code, r.json()["code"]) == (403, "password_login_disabled"), r.text
    r = await client.post("/api/v1/users/login/token/", data={"username": admin.email, "password": "wrong" * 4})
    assert r.json()["code"] == "invalid_credentials"  # a wrong password learns nothing about the setting
    options = (await client.get("/api/v1/sso/sign-in-options/", params={"tenant": str(admin.tenant_id)})).json()
    assert options["password_login"] is False
    assert (await me(client, await sign_in(client, str(admin.tenant_id), "bob")))["role"] == "user"
    refused = await entries(client, admin, action="auth.login", outcome="failure")
    assert [e["details"]["code"] for e in refused][-1] == "password_login_disabled"

    # Removing single sign-on turns passwords back on.
    assert (await client.delete(f"{PROVIDERS}{provider['id']}/", headers=admin.headers)).status_code == 204
    r = await client.post("/api/v1/users/login/token/", data={"username": admin.email, "password": PASSWORD})
    assert r.status_code == 200, r.text


async def test_another_tenants_provider_is_not_found(client: httpx.AsyncClient, make_user: Callable[..., Any],
                                                     op: OidcProvider) -> None:
    a_admin, b_admin = await make_user(), await make_user()
    provider = await configure(client, a_admin, op)
    path = f"{PROVIDERS}{provider['id']}/"
    for method, body in (("GET", None), ("PATCH", {"name": "stolen"}), ("DELETE", None)):
        r = await client.request(method, path, json=body, headers=b_admin.headers)
        assert (r.status_code, r.json()["code"]) == (404, "not_found"), (method, r.text)
    assert (await client.get(PROVIDERS, headers=b_admin.headers)).json() == []
    assert (await client.get(path, headers=a_admin.headers)).json()["name"] == "Kommun-ID"
    user = await make_user(Org(a_admin.tenant_id, ""), UserRole.user)
    r = await client.get(PROVIDERS, headers=user.headers)
    assert (r.status_code, r.json()["code"]) == (403, "permission_required")
    r = await client.post("/api/v1/sso/start/", json={"tenant": str(uuid.uuid4()), "redirect_uri": REDIRECT})
    assert (r.status_code, r.json()["code"]) == (404, "sso_not_configured")


async def test_bad_configuration_is_refused_precisely(client: httpx.AsyncClient, make_user: Callable[..., Any],
                                                      op: OidcProvider) -> None:
    admin = await make_user()
    r = await client.post(PROVIDERS, headers=admin.headers, json={
        "name": "x", "issuer": "not a url", "client_id": "c", "scopes": "email"})
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["details"]} == {"issuer", "scopes"}
    await configure(client, admin, op)
    r = await client.post(PROVIDERS, headers=admin.headers, json={"name": "y", "issuer": op.issuer, "client_id": "c"})
    assert (r.status_code, r.json()["code"]) == (409, "sso_provider_exists")


async def test_the_documented_configuration_works(client: httpx.AsyncClient, make_user: Callable[..., Any],
                                                  op: OidcProvider) -> None:
    """docs/sso.md's request, as written but for where the provider is and its client's credentials."""
    doc = DOC.read_text()
    request = re.search(r"```http\n(POST /api/v1/sso/providers/ .*?)```", doc, flags=re.S)
    assert request is not None
    body = json.loads(request.group(1).split("\n\n", 1)[1])
    admin = await make_user()
    r = await client.post(PROVIDERS, headers=admin.headers,
                          json=body | {"issuer": op.issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    assert r.status_code == 201, r.text
    assert {k: r.json()[k] for k in ("name", "role_claim", "role_mappings", "default_role", "has_client_secret")} == {
        "name": body["name"], "role_claim": "groups", "role_mappings": body["role_mappings"], "default_role": "user",
        "has_client_secret": True}
    assert (await me(client, await sign_in(client, str(admin.tenant_id), "alice")))["role"] == "admin"

    patch = re.search(r"```http\n(PATCH /api/v1/sso/providers/\{id\}/ .*?)```", doc, flags=re.S)
    assert patch is not None
    group = (await client.post("/api/v1/user-groups/", json={"name": "Socialtjänst"}, headers=admin.headers)).json()
    body = json.loads(patch.group(1).split("\n\n", 1)[1].replace("<user group id>", group["id"]))
    r = await client.patch(f"{PROVIDERS}{r.json()['id']}/", headers=admin.headers, json=body)
    assert r.status_code == 200 and r.json()["group_mappings"] == body["group_mappings"], r.text
    answer = await sign_in(client, str(admin.tenant_id), "carol")  # her claim holds "socialtjanst"
    assert (await me(client, answer))["email"] == CAROL["email"]
    got = (await client.get(f"/api/v1/user-groups/{group['id']}/", headers=admin.headers)).json()
    assert [m["email"] for m in got["members"]] == [CAROL["email"]]


async def test_the_claim_keeps_mapped_group_memberships(client: httpx.AsyncClient, make_user: Callable[..., Any],
                                                        op: OidcProvider) -> None:
    """Carol's claim names a mapped group: she joins it at her first sign-in, gets its space role, and leaves it
    when the organisation takes the value away; a group she was put in by hand is not the provider's to touch."""
    admin = await make_user()
    tenant = str(admin.tenant_id)

    async def new(path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = await client.post(path, json=body, headers=admin.headers)
        assert r.status_code == 201, r.text
        return r.json()

    mapped = await new("/api/v1/user-groups/", {"name": "Socialtjänst"})
    manual = await new("/api/v1/user-groups/", {"name": "Projekt"})
    space = await new("/api/v1/spaces/", {"name": "Handläggning"})
    await new(f"/api/v1/spaces/{space['id']}/group-members/", {"group_id": mapped["id"], "role": "editor"})
    provider = await configure(client, admin, op, group_mappings=[{"value": "socialtjanst", "group_id": mapped["id"]}])
    assert provider["group_mappings"] == [{"value": "socialtjanst", "group_id": mapped["id"]}]

    async def members(group: dict[str, Any]) -> list[str]:
        r = await client.get(f"/api/v1/user-groups/{group['id']}/", headers=admin.headers)
        return [m["email"] for m in r.json()["members"]]

    async def carol_sees_space() -> httpx.Response:
        answer = await sign_in(client, tenant, "carol")
        assert answer.status_code == 200, answer.text
        return await client.get(f"/api/v1/spaces/{space['id']}/",
                                headers={"Authorization": f"Bearer {answer.json()['access_token']}"})

    seen = await carol_sees_space()  # created just in time, and in the group at once
    assert (seen.status_code, seen.json()["my_role"]) == (200, "editor"), seen.text
    assert await members(mapped) == [CAROL["email"]]
    carol = next(u for u in (await client.get("/api/v1/users/", headers=admin.headers)).json()["items"]
                 if u["email"] == CAROL["email"])
    await new(f"/api/v1/user-groups/{manual['id']}/members/", {"user_id": carol["id"]})
    assert (await carol_sees_space()).status_code == 200  # a second sign-in changes nothing
    assert await members(mapped) == [CAROL["email"]]

    op.set_claims("carol", CAROL | {"groups": ["kultur"]})  # moved at the organisation
    try:
        assert (await carol_sees_space()).status_code == 404
        assert await members(mapped) == [] and await members(manual) == [CAROL["email"]]
    finally:
        op.set_claims("carol", CAROL)
    logged = [(e["action"], e["details"]["user_group"], e["details"].get("via"))
              for e in await entries(client, admin, action="user_group.") if "member" in e["action"]]
    assert logged == [("user_group.member_removed", "Socialtjänst", "sso"),
                      ("user_group.member_added", "Projekt", None),
                      ("user_group.member_added", "Socialtjänst", "sso")]

    # A mapped group deleted later drops out of the mappings; signing in still works.
    assert (await client.delete(f"/api/v1/user-groups/{mapped['id']}/", headers=admin.headers)).status_code == 204
    got = (await client.get(f"{PROVIDERS}{provider['id']}/", headers=admin.headers)).json()
    assert got["group_mappings"] == []
    assert (await me(client, await sign_in(client, tenant, "carol")))["email"] == CAROL["email"]
    assert await members(manual) == [CAROL["email"]]


async def test_group_mappings_name_only_the_organisations_groups(client: httpx.AsyncClient,
                                                                 make_user: Callable[..., Any],
                                                                 op: OidcProvider) -> None:
    admin, other_admin = await make_user(), await make_user()
    theirs = (await client.post("/api/v1/user-groups/", json={"name": "Deras"}, headers=other_admin.headers)).json()
    ours = (await client.post("/api/v1/user-groups/", json={"name": "Våra"}, headers=admin.headers)).json()
    body = {"name": "Kommun-ID", "issuer": op.issuer, "client_id": CLIENT_ID}
    for group_id in (str(uuid.uuid4()), theirs["id"]):
        r = await client.post(PROVIDERS, headers=admin.headers,
                              json=body | {"group_mappings": [{"value": "staff", "group_id": group_id}]})
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), r.text
        assert r.json()["details"] == [{"field": "group_mappings", "message": f"no user group with the id {group_id}",
                                        "type": "value_error"}]
    r = await client.post(PROVIDERS, headers=admin.headers,
                          json=body | {"group_mappings": [{"value": "staff", "group_id": "not-an-id"}]})
    assert r.status_code == 422 and r.json()["details"][0]["field"].startswith("group_mappings")
    provider = await configure(client, admin, op)
    assert provider["group_mappings"] == []
    r = await client.patch(f"{PROVIDERS}{provider['id']}/", headers=admin.headers,
                           json={"group_mappings": [{"value": "staff", "group_id": theirs["id"]}]})
    assert (r.status_code, r.json()["details"][0]["field"]) == (422, "group_mappings"), r.text
    r = await client.patch(f"{PROVIDERS}{provider['id']}/", headers=admin.headers,
                           json={"group_mappings": [{"value": "staff", "group_id": ours["id"]}]})
    assert r.status_code == 200 and r.json()["group_mappings"] == [{"value": "staff", "group_id": ours["id"]}]
