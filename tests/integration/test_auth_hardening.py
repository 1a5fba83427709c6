"""Issue 11's authentication items, through the auth function against real Postgres and Redis:
the password policy (4), atomic login throttling per account and address (5), the password-change
throttle (6), sessions with logout and refresh tokens (7), and e-mail addresses unique per tenant (8)."""

import asyncio
import secrets
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from eneo.auth.models import LoginSession
from eneo.core.db import UnitOfWork
from eneo.core.ids import utcnow
from eneo.core.settings import get_settings
from eneo.users.models import UserRole
from tests.integration.conftest import PASSWORD, Org

SUPER = {"X-API-Key": "test-super-key-0123456789abcdef0123456789"}
LOGIN = "/api/v1/users/login/token/"
REFRESH = "/api/v1/users/login/refresh/"
LOGOUT = "/api/v1/users/logout/"


def elsewhere(client: httpx.AsyncClient, scheme: str = "http") -> httpx.AsyncClient:
    """The same functions, called from another client address."""
    ip = f"198.19.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"
    app = client._transport.app  # type: ignore[attr-defined]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 1234)),
                             base_url=f"{scheme}://eneo.test")


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD, **form: str) -> httpx.Response:
    return await client.post(LOGIN, data={"username": email, "password": password, **form})


def bearer(r: httpx.Response) -> dict[str, str]:
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., None]]:
    def set_env(**values: Any) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, str(value))
        get_settings.cache_clear()

    yield set_env
    monkeypatch.undo()
    get_settings.cache_clear()


# 4. Password policy -------------------------------------------------------------------------------------

async def test_weak_passwords_are_refused_wherever_a_password_is_set(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    email = f"anna.svensson.{uuid.uuid4().hex[:6]}@kommun.se"
    for password, code in ((" " * 10, "password_too_short"), ("1234567890", "password_too_short"),
                           ("password12", "password_too_short"), ("123456789123", "password_too_common"),
                           ("a" * 14, "password_repeated_character"), ("anna.svensson2024", "password_contains_email")):
        r = await client.post("/api/v1/users/", headers=admin.headers,
                              json={"email": email, "name": "Anna", "password": password})
        assert (r.status_code, r.json()["code"], r.json()["details"][0]["field"]) == (422, code, "password"), password
    r = await client.post(f"/api/v1/sysadmin/tenants/{admin.tenant_id}/users/", headers=SUPER,
                          json={"email": email, "name": "Anna", "password": "qwertyuiop123"})
    assert (r.status_code, r.json()["code"]) == (422, "password_too_common")

    invited = await client.post("/api/v1/users/", headers=admin.headers, json={"email": email, "name": "Anna"})
    token = invited.json()["invitation_token"]
    r = await client.post("/api/v1/users/invitations/accept/", json={"token": token, "password": "svensson123"})
    assert (r.status_code, r.json()["code"]) == (422, "password_too_short")
    r = await client.post("/api/v1/users/invitations/accept/", json={"token": token, "password": "Svensson!2024"})
    assert (r.status_code, r.json()["code"]) == (422, "password_contains_email")
    r = await client.post("/api/v1/users/invitations/accept/", json={"token": token, "password": "lösenord på svenska"})
    assert r.status_code == 200

    r = await client.post("/api/v1/users/me/password/", headers=admin.headers,
                          json={"current_password": PASSWORD, "new_password": " " * 10})
    assert (r.status_code, r.json()["code"], r.json()["details"][0]["field"]) == (422, "password_too_short",
                                                                                  "new_password")
    assert (await login(client, admin.email)).status_code == 200  # nothing changed


# 5. Login throttling ------------------------------------------------------------------------------------

async def test_parallel_wrong_passwords_get_at_most_the_limit_of_verifications(client: httpx.AsyncClient,
                                                                               make_user) -> None:
    """A 401 means the password was verified; the limit is 10 per account and address."""
    user = await make_user()
    answers = await asyncio.gather(*(login(client, user.email, f"wrong guess {i:04}") for i in range(40)))
    codes = [r.status_code for r in answers]
    assert codes.count(401) <= 10 and codes.count(429) >= 30, codes
    assert set(codes) == {401, 429}
    assert 0 < int(next(r for r in answers if r.status_code == 429).headers["retry-after"]) <= 15 * 60
    assert (await login(client, user.email)).status_code == 429  # the attacker's address is slowed ...
    async with elsewhere(client) as owner:  # ... the owner elsewhere is not
        assert (await login(owner, user.email)).status_code == 200


async def test_a_stranger_spread_over_addresses_cannot_lock_the_owner_out(client: httpx.AsyncClient, make_user,
                                                                         settings_env) -> None:
    settings_env(LOGIN_MAX_ATTEMPTS_PER_ACCOUNT=3, LOGIN_MAX_ATTEMPTS_PER_ACCOUNT_ALL_ADDRESSES=6)
    user = await make_user()  # logged in from `client`'s address: a known address of the account
    for _ in range(2):
        async with elsewhere(client) as attacker:
            assert [(await login(attacker, user.email, "wrong guess")).status_code for _ in range(4)] \
                == [401, 401, 401, 429]
    async with elsewhere(client) as attacker:  # the account has had its 6 failures this hour
        r = await login(attacker, user.email, "wrong guess")
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 15 * 60
        assert (await login(attacker, user.email)).status_code == 429  # a new address waits, right or wrong
    assert (await login(client, user.email, "wrong guess")).status_code == 401  # the owner's address still tries
    assert (await login(client, user.email)).status_code == 200


async def test_successful_logins_from_one_address_never_use_up_its_count(client: httpx.AsyncClient, make_user,
                                                                         settings_env) -> None:
    settings_env(LOGIN_MAX_ATTEMPTS_PER_IP=3)
    users = [await make_user() for _ in range(2)]
    for _ in range(3):
        for user in users:
            assert (await login(client, user.email)).status_code == 200
    assert [(await login(client, f"nobody-{i}@example.org", "x")).status_code for i in range(4)] \
        == [401, 401, 401, 429]


# 6. Password-change throttle ----------------------------------------------------------------------------

async def test_wrong_current_passwords_are_throttled(client: httpx.AsyncClient, make_user) -> None:
    user = await make_user()
    change = {"current_password": "wrong guess", "new_password": "a brand new passphrase"}
    answers = await asyncio.gather(*(client.post("/api/v1/users/me/password/", headers=user.headers, json=change)
                                     for _ in range(25)))
    codes = [r.status_code for r in answers]
    assert codes.count(401) <= 5 and codes.count(429) >= 20, codes
    r = await client.post("/api/v1/users/me/password/", headers=user.headers,
                          json={"current_password": PASSWORD, "new_password": "a brand new passphrase"})
    assert (r.status_code, r.json()["code"]) == (429, "rate_limited") and int(r.headers["retry-after"]) > 0
    assert (await client.get("/api/v1/users/me/", headers=user.headers)).status_code == 200


async def test_a_right_current_password_clears_the_count(client: httpx.AsyncClient, make_user) -> None:
    user = await make_user()
    wrong = {"current_password": "wrong guess", "new_password": "a brand new passphrase"}
    for _ in range(4):
        assert (await client.post("/api/v1/users/me/password/", headers=user.headers, json=wrong)).status_code == 401
    r = await client.post("/api/v1/users/me/password/", headers=user.headers,
                          json={"current_password": PASSWORD, "new_password": "a brand new passphrase"})
    assert r.status_code == 200
    wrong["current_password"] = "still wrong"
    for _ in range(4):
        assert (await client.post("/api/v1/users/me/password/", headers=bearer(r), json=wrong)).status_code == 401


# 7. Sessions: short-lived access tokens, refresh, logout --------------------------------------------------

async def test_access_tokens_live_minutes_and_refresh_tokens_rotate(client: httpx.AsyncClient, make_user,
                                                                    settings_env) -> None:
    user = await make_user()
    first = await login(client, user.email)
    body = first.json()
    assert body["expires_in"] == 15 * 60 and body["refresh_expires_in"] == 30 * 60 and body["refresh_token"]
    assert first.headers["cache-control"] == "no-store" and "set-cookie" not in first.headers
    r = await client.post(REFRESH, json={"refresh_token": body["refresh_token"]})
    assert r.status_code == 200 and r.json()["refresh_token"] not in (None, body["refresh_token"])
    assert (await client.get("/api/v1/users/me/", headers=bearer(r))).json()["email"] == user.email
    again = await client.post(REFRESH, json={"refresh_token": body["refresh_token"]})  # a second tab, at once
    assert again.status_code == 200 and again.json()["refresh_token"] is None
    settings_env(REFRESH_REUSE_GRACE_SECONDS=0)
    stolen = await client.post(REFRESH, json={"refresh_token": body["refresh_token"]})  # reuse: end it for all
    assert (stolen.status_code, stolen.json()["code"]) == (401, "refresh_token_reused")
    for token in (r.json()["refresh_token"], body["refresh_token"]):
        r2 = await client.post(REFRESH, json={"refresh_token": token})
        assert (r2.status_code, r2.json()["code"]) == (401, "session_ended")
    for headers in (bearer(first), bearer(r)):
        r2 = await client.get("/api/v1/users/me/", headers=headers)
        assert (r2.status_code, r2.json()["code"]) == (401, "session_ended")
    assert (await client.get("/api/v1/users/me/", headers=user.headers)).status_code == 200  # another login


async def test_logout_ends_that_session_at_once(client: httpx.AsyncClient, make_user) -> None:
    user = await make_user()
    key = (await client.post("/api/v1/api-keys/", json={"name": "k"}, headers=user.headers)).json()["key"]
    session = await login(client, user.email)
    assert (await client.post(LOGOUT, headers=bearer(session))).status_code == 204
    r = await client.get("/api/v1/users/me/", headers=bearer(session))
    assert (r.status_code, r.json()["code"]) == (401, "session_ended")
    r = await client.post(REFRESH, json={"refresh_token": session.json()["refresh_token"]})
    assert (r.status_code, r.json()["code"]) == (401, "session_ended")
    assert (await client.get("/api/v1/users/me/", headers=user.headers)).status_code == 200  # other sessions
    assert (await client.get("/api/v1/users/me/", headers={"X-API-Key": key})).status_code == 200  # and keys
    # With the refresh token (an access token that expired meanwhile is no obstacle).
    other = await login(client, user.email)
    assert (await client.post(LOGOUT, json={"refresh_token": other.json()["refresh_token"]})).status_code == 204
    assert (await client.get("/api/v1/users/me/", headers=bearer(other))).status_code == 401
    for headers in ({}, {"X-API-Key": key}):
        assert (await client.post(LOGOUT, headers=headers)).status_code == 401


async def test_browsers_keep_the_refresh_token_in_an_httponly_cookie(client: httpx.AsyncClient, make_user) -> None:
    user = await make_user()
    async with elsewhere(client, "https") as browser:
        r = await login(browser, user.email, refresh_token_in="cookie")
        assert r.status_code == 200 and r.json()["refresh_token"] is None
        cookie = r.headers["set-cookie"]
        for attribute in ("eneo_refresh=", "HttpOnly", "SameSite=strict", "Path=/api/v1/users/", "Secure",
                          "Max-Age=1800"):
            assert attribute.lower() in cookie.lower(), cookie
        first = browser.cookies["eneo_refresh"]
        r = await browser.post(REFRESH)  # the cookie goes by itself
        assert r.status_code == 200 and r.json()["refresh_token"] is None
        assert browser.cookies["eneo_refresh"] != first
        assert (await browser.get("/api/v1/users/me/", headers=bearer(r))).status_code == 200
        assert (await browser.post(LOGOUT)).status_code == 204 and "eneo_refresh" not in browser.cookies
        assert (await browser.get("/api/v1/users/me/", headers=bearer(r))).json()["code"] == "session_ended"
        assert (await browser.post(REFRESH)).json()["code"] == "invalid_refresh_token"
        browser.cookies.set("eneo_refresh", first, domain="eneo.test", path="/api/v1/users/")
        assert (await browser.post(REFRESH)).json()["code"] == "session_ended"
    async with elsewhere(client, "http") as plain:  # plain HTTP off this machine: the cookie is Secure, not sent
        r = await login(plain, user.email, refresh_token_in="cookie")
        assert "secure" in r.headers["set-cookie"].lower() and (await plain.post(REFRESH)).status_code == 401


async def test_idle_and_ended_sessions_cannot_be_refreshed(client: httpx.AsyncClient, make_user) -> None:
    user = await make_user()
    r = await login(client, user.email)
    async with UnitOfWork(sysadmin=True) as uow:
        uow.act_as(user.tenant_id)
        await uow.session.execute(update(LoginSession).where(LoginSession.user_id == user.id)
                                  .values(idle_expires_at=utcnow()))
    r2 = await client.post(REFRESH, json={"refresh_token": r.json()["refresh_token"]})
    assert (r2.status_code, r2.json()["code"]) == (401, "session_ended")
    for bad in ("garbage", f"{uuid.uuid4()}.secret", r.json()["refresh_token"].split(".")[0]):
        r2 = await client.post(REFRESH, json={"refresh_token": bad})
        assert (r2.status_code, r2.json()["code"]) == (401, "invalid_refresh_token")


async def test_a_password_change_ends_every_session_and_its_refresh_tokens(client: httpx.AsyncClient,
                                                                           make_user) -> None:
    user = await make_user()
    other = await login(client, user.email)
    r = await client.post("/api/v1/users/me/password/", headers=user.headers,
                          json={"current_password": PASSWORD, "new_password": "a brand new passphrase"})
    assert r.status_code == 200 and r.json()["refresh_token"]
    r2 = await client.post(REFRESH, json={"refresh_token": other.json()["refresh_token"]})
    assert (r2.status_code, r2.json()["code"]) == (401, "session_ended")
    assert (await client.post(REFRESH, json={"refresh_token": r.json()["refresh_token"]})).status_code == 200


async def test_a_deactivated_user_cannot_refresh(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user()
    user = await make_user(tenant=Org(admin.tenant_id, ""), role=UserRole.user)
    r = await login(client, user.email)
    await client.patch(f"/api/v1/users/{user.id}/", json={"state": "deactivated"}, headers=admin.headers)
    r2 = await client.post(REFRESH, json={"refresh_token": r.json()["refresh_token"]})
    assert (r2.status_code, r2.json()["code"]) == (403, "user_deactivated")


# 8. An e-mail address in another tenant -----------------------------------------------------------------

async def test_an_address_in_another_tenant_is_not_revealed(client: httpx.AsyncClient, make_user) -> None:
    a, b = await make_user(), await make_user()
    email = f"shared-{uuid.uuid4().hex[:6]}@kommun.se"
    made_a = await client.post("/api/v1/users/", headers=a.headers,
                               json={"email": email, "name": "In A", "password": "first org passphrase"})
    made_b = await client.post("/api/v1/users/", headers=b.headers,
                               json={"email": email.upper(), "name": "In B", "password": "second org passphrase"})
    fresh = await client.post("/api/v1/users/", headers=b.headers,
                              json={"email": f"new-{email}", "name": "New", "password": "second org passphrase"})
    assert made_a.status_code == made_b.status_code == fresh.status_code == 201  # B cannot tell
    assert made_b.json()["tenant_id"] == str(b.tenant_id)
    twin = await client.post("/api/v1/users/", headers=b.headers,
                             json={"email": email, "name": "Twin", "password": "second org passphrase"})
    assert (twin.status_code, twin.json()["code"]) == (409, "email_taken")  # within one tenant, as before

    async def tenant_of(r: httpx.Response) -> str:
        assert r.status_code == 200, r.text
        return (await client.get("/api/v1/users/me/", headers=bearer(r))).json()["tenant_id"]

    # Without a tenant, the address's oldest account; B's is reached by naming B (id or name).
    assert await tenant_of(await login(client, email, "first org passphrase")) == str(a.tenant_id)
    assert (await login(client, email, "second org passphrase")).status_code == 401
    assert await tenant_of(await login(client, email, "second org passphrase", tenant=str(b.tenant_id))) \
        == str(b.tenant_id)
    async with UnitOfWork(sysadmin=True) as uow:
        from eneo.tenants.models import Tenant

        b_name = (await uow.session.get(Tenant, b.tenant_id)).name  # type: ignore[union-attr]
    assert await tenant_of(await login(client, email, "second org passphrase", tenant=b_name)) == str(b.tenant_id)
    r = await login(client, email, "first org passphrase", tenant="No such organisation")
    assert (r.status_code, r.json()["code"]) == (401, "invalid_credentials")
    # B's admin manages B's account only; A's stays untouched.
    r = await client.patch(f"/api/v1/users/{made_a.json()['id']}/", headers=b.headers, json={"name": "x"})
    assert r.status_code == 404
