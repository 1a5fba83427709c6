"""A browser session outlives its access token, and sign out ends it at the server, in a real browser.

This module runs its own stack with 15-second access tokens (JWT_EXPIRY_MINUTES=0.25), so a session
outliving its access token takes seconds, not the default fifteen minutes: the client renews a token a
quarter of its life before the end, and past the first token's expiry a click and a reload still work.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.actors import PASSWORD, new_tenant, new_user
from tests.e2e.browser.conftest import Screen
from tests.e2e.browser.test_admin import sign_in
from tests.e2e.conftest import Stack, running_stack

pytestmark = pytest.mark.e2e

REFRESH = "/api/v1/users/login/refresh/"
LOGOUT = "/api/v1/users/logout/"
TOKEN_SECONDS = 15


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # The template does not declare the setting: the functions get it through the local stack's passthrough.
    yield from running_stack("eneo-e2e-web-session-", JWT_EXPIRY_MINUTES=str(TOKEN_SECONDS / 60),
                             ENEO_WORKER_ENV_PASSTHROUGH="JWT_EXPIRY_MINUTES", ENEO_LOCAL_MODEL="off",
                             ENEO_SCHEDULES="off")


def test_a_session_outlives_its_access_token_and_sign_out_ends_it(screen_factory: Any, stack: Stack) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
        user = new_user(http, admin)
    screen: Screen = screen_factory(lang="sv-SE")
    page = screen.page
    refreshes: list[int] = []
    page.on("response", lambda r: refreshes.append(r.status) if r.url.endswith(REFRESH) else None)
    with page.expect_response(lambda r: "/login/token/" in r.url) as login:
        sign_in(screen, user.email, path="/login?next=%2Faccount")
    assert login.value.json()["expires_in"] == TOKEN_SECONDS  # the stack's setting reached the functions
    page.get_by_role("heading", name="Mitt konto", level=1).wait_for()
    # Nothing of the session is in storage a script could read: the refresh token is an HttpOnly cookie.
    assert page.evaluate("() => Object.keys(localStorage).filter(k => k !== 'eneo.lang')") == []
    cookie = next(c for c in page.context.cookies() if c["name"] == "eneo_refresh")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/api/v1/users/"

    # The client renews the token a quarter of its life before the end. Past the first token's expiry, the
    # page still works: a click to another screen loads its data with a fresh token.
    page.wait_for_timeout((TOKEN_SECONDS + 5) * 1000)
    assert refreshes and set(refreshes) == {200}, refreshes
    page.get_by_role("link", name="Utrymmen").click()
    page.get_by_role("heading", name="Mitt personliga utrymme").wait_for()
    assert "/login" not in page.url
    # A reload forgets the in-memory token; the cookie signs the user straight back in.
    page.reload()
    page.get_by_role("heading", name="Mitt personliga utrymme").wait_for()
    assert "/login" not in page.url

    # A second tab signs in with the same cookie (the same session).
    other = page.context.new_page()
    other.goto(screen.base_url + "/spaces")
    other.get_by_role("heading", name="Mitt personliga utrymme").wait_for()

    # Sign out ends the session at the server: the cookie no longer refreshes, the screens need sign-in.
    with page.expect_response(lambda r: r.url.endswith(LOGOUT)) as logout:
        page.get_by_role("button", name="Logga ut").click()
    assert logout.value.status == 204
    page.wait_for_url("**/login")
    assert page.request.post(screen.base_url + REFRESH).status == 401
    screen.goto("/account")
    page.wait_for_url("**/login?next=%2Faccount*")

    # The other tab's next request is refused (session_ended): to sign-in, told why, and back after it.
    other.get_by_role("link", name="Mitt konto").click()
    other.wait_for_url("**/login?next=%2Faccount&expired=1")
    assert other.get_by_role("status").filter(has_text="Din session har gått ut. Logga in igen.").count() == 1
    other.get_by_label("E-postadress").fill(user.email)
    other.get_by_label("Lösenord").fill(PASSWORD)
    other.get_by_role("button", name="Logga in").click()
    other.wait_for_url("**/account")
    other.get_by_role("heading", name="Mitt konto", level=1).wait_for()
