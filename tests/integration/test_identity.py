"""Tenants, users, login and API keys through the auth function, against real Postgres and Redis."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx

from eneo.users.models import UserRole
from tests.integration.conftest import PASSWORD

SUPER = {"X-API-Key": "test-super-key-0123456789abcdef0123456789"}


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post("/api/v1/users/login/token/", data={"username": email, "password": password})


async def test_sysadmin_manages_tenants_and_their_first_admin(client: httpx.AsyncClient) -> None:
    name = f"Kommun {uuid.uuid4().hex[:6]}"
    r = await client.post("/api/v1/sysadmin/tenants/", json={"name": name}, headers=SUPER)
    assert r.status_code == 201 and r.json()["state"] == "active"
    tenant_id = r.json()["id"]
    assert (await client.post("/api/v1/sysadmin/tenants/", json={"name": name}, headers=SUPER)).json()["code"] \
        == "tenant_name_taken"
    r = await client.get(f"/api/v1/sysadmin/tenants/{tenant_id}/", headers=SUPER)
    assert r.json()["name"] == name
    email = f"first-{uuid.uuid4().hex[:6]}@kommun.se"
    r = await client.post(f"/api/v1/sysadmin/tenants/{tenant_id}/users/", headers=SUPER,
                          json={"email": email, "name": "First", "role": "admin", "password": PASSWORD})
    assert r.status_code == 201 and r.json()["tenant_id"] == tenant_id
    token = (await login(client, email)).json()["access_token"]
    me = await client.get("/api/v1/users/me/", headers={"Authorization": f"Bearer {token}"})
    assert (me.json()["email"], me.json()["role"]) == (email, "admin")


async def test_sysadmin_routes_need_the_super_key(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    for headers in ({}, {"X-API-Key": "wrong"}, admin.headers):
        r = await client.get("/api/v1/sysadmin/tenants/", headers=headers)
        assert (r.status_code, r.json()["code"]) == (401, "sysadmin_required")


async def test_tenant_list_is_paged_without_gaps(client: httpx.AsyncClient, make_tenant) -> None:
    made = {(await make_tenant()).id for _ in range(3)}
    seen: list[str] = []
    cursor = None
    while True:
        r = await client.get("/api/v1/sysadmin/tenants/", headers=SUPER,
                             params={"limit": 2, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200 and len(r.json()["items"]) <= 2
        seen += [t["id"] for t in r.json()["items"]]
        if not (cursor := r.json()["next_cursor"]):
            break
    assert len(seen) == len(set(seen))
    assert {str(t) for t in made} <= set(seen)


async def test_login_errors_do_not_tell_which_part_was_wrong(client: httpx.AsyncClient, make_user) -> None:
    user = await make_user()
    wrong_password = await login(client, user.email, "not the password")
    unknown = await login(client, f"nobody-{uuid.uuid4().hex}@example.org")
    assert wrong_password.status_code == unknown.status_code == 401
    assert wrong_password.json()["message"] == unknown.json()["message"]
    assert wrong_password.json()["code"] == "invalid_credentials"
    r = await client.post("/api/v1/users/login/token/", data={"username": user.email})
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "password"


async def test_login_is_rate_limited_per_account(client: httpx.AsyncClient, make_user) -> None:
    user = await make_user()
    codes = [(await login(client, user.email, "wrong password")).status_code for _ in range(10)]
    assert codes == [401] * 10
    r = await login(client, user.email)  # even the right password waits now
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    assert 0 < int(r.headers["retry-after"]) <= 15 * 60


async def test_login_is_rate_limited_per_address(client: httpx.AsyncClient, make_user) -> None:
    user = await make_user()
    for _ in range(3):  # successful logins from a shared address do not count
        assert (await login(client, user.email)).status_code == 200
    codes = [(await login(client, f"guess-{i}@example.org", "x")).status_code for i in range(51)]
    assert codes[:50] == [401] * 50 and codes[50] == 429
    assert (await login(client, user.email)).status_code == 429


async def test_a_successful_login_clears_the_account_counter(client: httpx.AsyncClient, make_user) -> None:
    user = await make_user()
    for _ in range(2):
        for _ in range(9):
            assert (await login(client, user.email, "wrong password")).status_code == 401
        assert (await login(client, user.email)).status_code == 200


async def test_deactivated_user_is_refused_until_reactivated(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    user = await make_user(tenant=_org(admin), role=UserRole.user)
    r = await client.patch(f"/api/v1/users/{user.id}/", json={"state": "deactivated"}, headers=admin.headers)
    assert r.json()["state"] == "deactivated"
    r = await client.get("/api/v1/users/me/", headers=user.headers)
    assert (r.status_code, r.json()["code"]) == (403, "user_deactivated")
    assert (await login(client, user.email)).json()["code"] == "user_deactivated"
    await client.patch(f"/api/v1/users/{user.id}/", json={"state": "active"}, headers=admin.headers)
    assert (await client.get("/api/v1/users/me/", headers=user.headers)).status_code == 200


async def test_suspended_tenant_is_refused_with_a_clear_message(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    key = (await client.post("/api/v1/api-keys/", json={"name": "k"}, headers=admin.headers)).json()["key"]
    r = await client.patch(f"/api/v1/sysadmin/tenants/{admin.tenant_id}/", json={"state": "suspended"},
                           headers=SUPER)
    assert r.json()["state"] == "suspended"
    for headers in (admin.headers, {"X-API-Key": key}):
        r = await client.get("/api/v1/spaces/", headers=headers)
        assert (r.status_code, r.json()["code"]) == (403, "tenant_suspended")
        assert "suspended" in r.json()["message"]
    assert (await login(client, admin.email)).json()["code"] == "tenant_suspended"
    await client.patch(f"/api/v1/sysadmin/tenants/{admin.tenant_id}/", json={"state": "active"}, headers=SUPER)
    assert (await client.get("/api/v1/spaces/", headers=admin.headers)).status_code == 200


async def test_invited_user_sets_a_password_once(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    email = f"invitee-{uuid.uuid4().hex[:6]}@example.org"
    r = await client.post("/api/v1/users/", json={"email": email, "name": "Invitee"}, headers=admin.headers)
    assert r.status_code == 201 and r.json()["state"] == "invited"
    token = r.json()["invitation_token"]
    assert (await login(client, email)).status_code == 401
    accept = {"token": token, "password": "my own passphrase"}
    r = await client.post("/api/v1/users/invitations/accept/", json=accept)
    assert r.status_code == 200 and r.json()["state"] == "active"
    assert (await login(client, email, "my own passphrase")).status_code == 200
    r = await client.post("/api/v1/users/invitations/accept/", json=accept)
    assert (r.status_code, r.json()["code"]) == (400, "invalid_invitation")


async def test_only_admins_manage_users(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    user = await make_user(tenant=_org(admin), role=UserRole.user)
    for method, path in (("GET", "/api/v1/users/"), ("POST", "/api/v1/users/"),
                         ("PATCH", f"/api/v1/users/{admin.id}/"), ("DELETE", f"/api/v1/users/{admin.id}/")):
        body = {"email": "x@example.org", "name": "x"} if method == "POST" else {}
        r = await client.request(method, path, headers=user.headers, json=body)
        assert (r.status_code, r.json()["code"]) == (403, "permission_required"), (method, path)
    # A plain user reads only their own record.
    assert (await client.get(f"/api/v1/users/{admin.id}/", headers=user.headers)).status_code == 404
    assert (await client.get(f"/api/v1/users/{user.id}/", headers=user.headers)).status_code == 200


async def test_the_last_admin_cannot_be_removed(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    r = await client.patch(f"/api/v1/users/{admin.id}/", json={"role": "user"}, headers=admin.headers)
    assert (r.status_code, r.json()["code"]) == (409, "last_admin")
    r = await client.delete(f"/api/v1/users/{admin.id}/", headers=admin.headers)
    assert (r.status_code, r.json()["code"]) == (409, "cannot_delete_self")


async def test_duplicate_email_is_a_conflict(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    r = await client.post("/api/v1/users/", json={"email": admin.email.upper(), "name": "Twin",
                                                   "password": PASSWORD}, headers=admin.headers)
    assert (r.status_code, r.json()["code"]) == (409, "email_taken")


async def test_deleting_a_user_removes_their_keys_and_personal_space(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    user = await make_user(tenant=_org(admin), role=UserRole.user)
    key = (await client.post("/api/v1/api-keys/", json={"name": "k"}, headers=user.headers)).json()["key"]
    assert (await client.delete(f"/api/v1/users/{user.id}/", headers=admin.headers)).status_code == 204
    assert (await client.get("/api/v1/spaces/", headers={"X-API-Key": key})).status_code == 401
    assert (await client.get(f"/api/v1/users/{user.id}/", headers=admin.headers)).status_code == 404


async def test_api_key_lifecycle(client: httpx.AsyncClient, make_user) -> None:
    user = await make_user()
    r = await client.post("/api/v1/api-keys/", json={"name": "script"}, headers=user.headers)
    assert r.status_code == 201
    created = r.json()
    key = created["key"]
    assert key.startswith(created["prefix"] + "_") and key.endswith(created["last4"])

    listed = (await client.get("/api/v1/api-keys/", headers=user.headers)).json()["items"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0] and key not in str(listed)

    r = await client.get("/api/v1/users/me/", headers={"X-API-Key": key})
    assert r.status_code == 200 and r.json()["id"] == str(user.id)
    used = (await client.get("/api/v1/api-keys/", headers=user.headers)).json()["items"][0]
    assert used["last_used_at"] is not None

    r = await client.delete(f"/api/v1/api-keys/{created['id']}/", headers=user.headers)
    assert r.status_code == 200 and r.json()["revoked_at"]
    r = await client.get("/api/v1/users/me/", headers={"X-API-Key": key})
    assert (r.status_code, r.json()["code"]) == (401, "api_key_revoked")


async def test_tampered_or_unknown_api_keys_are_refused(client: httpx.AsyncClient, make_user) -> None:
    user = await make_user()
    key = (await client.post("/api/v1/api-keys/", json={"name": "k"}, headers=user.headers)).json()["key"]
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    for bad in (tampered, "eneo_nothere_" + "x" * 40, "garbage"):
        r = await client.get("/api/v1/users/me/", headers={"X-API-Key": bad})
        assert (r.status_code, r.json()["code"]) == (401, "invalid_api_key")


async def test_assistant_scoped_key_needs_an_assistant(client: httpx.AsyncClient, make_user) -> None:
    # What such a key reaches: tests/integration/test_assistants.py; which assistants: test_api_hardening.py.
    user = await make_user()
    r = await client.post("/api/v1/api-keys/", headers=user.headers,
                          json={"name": "bot", "scope": "assistant", "assistant_id": str(uuid.uuid4())})
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    r = await client.post("/api/v1/api-keys/", headers=user.headers, json={"name": "bot", "scope": "assistant"})
    assert r.status_code == 422


async def test_expired_key_is_refused(client: httpx.AsyncClient, make_user) -> None:
    user = await make_user()
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    r = await client.post("/api/v1/api-keys/", json={"name": "k", "expires_at": past}, headers=user.headers)
    assert (r.status_code, r.json()["code"]) == (400, "invalid_expiry")


def _org(member):  # the tenant of an existing member, for make_user(tenant=...)
    from tests.integration.conftest import Org

    return Org(member.tenant_id, "")


async def test_changing_the_password_ends_every_other_session(client: httpx.AsyncClient, make_user) -> None:
    user = await make_user()
    other_session = {"Authorization": f"Bearer {(await login(client, user.email)).json()['access_token']}"}
    r = await client.post("/api/v1/users/me/password/", headers=user.headers,
                          json={"current_password": PASSWORD, "new_password": "a brand new passphrase"})
    assert r.status_code == 200, r.text
    fresh = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert (await client.get("/api/v1/users/me/", headers=fresh)).status_code == 200
    for old in (user.headers, other_session):
        r = await client.get("/api/v1/users/me/", headers=old)
        assert (r.status_code, r.json()["code"]) == (401, "token_revoked")
    assert (await login(client, user.email)).status_code == 401
    assert (await login(client, user.email, "a brand new passphrase")).status_code == 200


async def test_password_change_needs_the_current_password_and_a_session(client: httpx.AsyncClient,
                                                                        make_user) -> None:
    user = await make_user()
    r = await client.post("/api/v1/users/me/password/", headers=user.headers,
                          json={"current_password": "guess", "new_password": "a brand new passphrase"})
    assert (r.status_code, r.json()["code"]) == (401, "invalid_credentials")
    r = await client.post("/api/v1/users/me/password/", headers=user.headers,
                          json={"current_password": PASSWORD, "new_password": "short"})
    assert (r.status_code, r.json()["details"][0]["field"]) == (422, "new_password")
    r = await client.post("/api/v1/users/me/password/", headers=user.headers,
                          json={"current_password": PASSWORD, "new_password": PASSWORD})
    assert (r.status_code, r.json()["code"]) == (400, "password_unchanged")
    key = (await client.post("/api/v1/api-keys/", json={"name": "k"}, headers=user.headers)).json()["key"]
    r = await client.post("/api/v1/users/me/password/", headers={"X-API-Key": key},
                          json={"current_password": PASSWORD, "new_password": "a brand new passphrase"})
    assert (r.status_code, r.json()["code"]) == (403, "token_required")
    assert (await client.get("/api/v1/users/me/", headers=user.headers)).status_code == 200


async def test_admin_lets_a_user_who_forgot_their_password_set_a_new_one(client: httpx.AsyncClient,
                                                                         make_user) -> None:
    admin = await make_user()
    user = await make_user(tenant=_org(admin), role=UserRole.user)
    r = await client.post(f"/api/v1/users/{user.id}/invitation/", headers=admin.headers)
    assert r.status_code == 201
    token = r.json()["invitation_token"]
    assert (await login(client, user.email)).status_code == 200  # nothing changes until it is used
    r = await client.post("/api/v1/users/invitations/accept/", json={"token": token, "password": "remembered now"})
    assert r.status_code == 200 and r.json()["state"] == "active"
    r = await client.get("/api/v1/users/me/", headers=user.headers)
    assert (r.status_code, r.json()["code"]) == (401, "token_revoked")
    assert (await login(client, user.email)).status_code == 401
    assert (await login(client, user.email, "remembered now")).status_code == 200


async def test_a_reissued_invitation_replaces_the_old_one(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    email = f"late-{uuid.uuid4().hex[:6]}@example.org"
    created = (await client.post("/api/v1/users/", json={"email": email, "name": "Late"},
                                 headers=admin.headers)).json()
    again = (await client.post(f"/api/v1/users/{created['id']}/invitation/", headers=admin.headers)).json()
    r = await client.post("/api/v1/users/invitations/accept/",
                          json={"token": created["invitation_token"], "password": "first passphrase"})
    assert (r.status_code, r.json()["code"]) == (400, "invalid_invitation")
    r = await client.post("/api/v1/users/invitations/accept/",
                          json={"token": again["invitation_token"], "password": "second passphrase"})
    assert r.status_code == 200
    assert (await login(client, email, "second passphrase")).status_code == 200


async def test_invitations_are_for_admins_and_active_accounts(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    user = await make_user(tenant=_org(admin), role=UserRole.user)
    r = await client.post(f"/api/v1/users/{admin.id}/invitation/", headers=user.headers)
    assert (r.status_code, r.json()["code"]) == (403, "permission_required")
    await client.patch(f"/api/v1/users/{user.id}/", json={"state": "deactivated"}, headers=admin.headers)
    r = await client.post(f"/api/v1/users/{user.id}/invitation/", headers=admin.headers)
    assert (r.status_code, r.json()["code"]) == (409, "user_deactivated")
