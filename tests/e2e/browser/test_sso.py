"""Single sign-on in a real browser through a real OpenID Connect provider (`oidc-provider` on 127.0.0.1): a
tenant admin configures it on the admin screen and turns passwords off; the sign-in page then offers only
"Logga in med Kommun-ID"; Alice signs in at the provider, comes back signed in, is an admin by her group and
a member of the user group the screen mapped it to.
axe and screenshots of the admin screen and of the sign-in page."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.actors import Actor, new_tenant
from tests.e2e.browser.conftest import Screen
from tests.e2e.browser.test_chat import sign_in
from tests.fakes.oidc_provider import OidcProvider

pytestmark = pytest.mark.e2e

CLIENT_ID, CLIENT_SECRET = "eneo-browser", "a-client-secret-for-the-browser-test"
ALICE = f"alice-{uuid.uuid4().hex[:6]}@kommun.se"


@pytest.fixture(scope="module")
def op(stack: Any) -> Iterator[OidcProvider]:
    client = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
              "redirect_uris": [f"{stack.base_url}/sso/callback"],
              "grant_types": ["authorization_code"], "response_types": ["code"]}
    accounts = {"alice": {"email": ALICE, "email_verified": True, "name": "Alice Andersson",
                          "groups": ["eneo-admins"]}}
    with OidcProvider([client], accounts) as provider:
        yield provider


@pytest.fixture(scope="module")
def tenant(stack: Any) -> tuple[str, Actor]:
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        return new_tenant(http, {"X-API-Key": stack.super_api_key})


def test_configure_sso_and_sign_in_through_the_provider(screen_factory: Any, op: OidcProvider,
                                                        tenant: tuple[str, Actor]) -> None:
    tenant_id, admin = tenant
    screen: Screen = screen_factory(lang="sv-SE")
    page = screen.page
    with httpx.Client(base_url=screen.base_url, timeout=60) as http:
        r = http.post("/api/v1/user-groups/", json={"name": "Förvaltningsledning"}, headers=admin.headers)
        assert r.status_code == 201, r.text
        group_id = r.json()["id"]
    screen.goto("/admin/sso")
    page.wait_for_url("**/login?next=*")
    sign_in(screen, admin.email)
    form = page.get_by_test_id("sso-form")
    form.get_by_label("Namn på knappen").fill("Kommun-ID")
    form.get_by_label("Utfärdare (issuer)").fill(op.issuer)
    form.get_by_label("Klient-id").fill(CLIENT_ID)
    form.get_by_label("Klienthemlighet").fill(CLIENT_SECRET)
    form.get_by_label("Grupp = roll, en per rad").fill("eneo-admins = admin")
    form.get_by_role("button", name="Lägg till grupp").click()
    form.get_by_label("Värde i claim").fill("eneo-admins")
    form.get_by_label("Användargrupp", exact=True).select_option(label="Förvaltningsledning")
    form.get_by_label("Tillåt inloggning med lösenord").uncheck()
    form.get_by_role("button", name="Spara").click()
    page.get_by_test_id("status").get_by_text("Sparat.").wait_for()
    assert form.get_by_label("Klienthemlighet").input_value() == ""  # write-only
    screen.axe("admin sso")
    screen.shot("admin-sso")

    page.get_by_role("button", name="Logga ut").click()
    page.wait_for_url("**/login")
    screen.goto(f"/login?tenant={tenant_id}")
    button = page.get_by_test_id("sso-button")
    button.get_by_text("Logga in med Kommun-ID").wait_for()
    assert page.get_by_label("Lösenord").count() == 0  # passwords are off for this organisation
    screen.axe("sign-in sso")
    screen.shot("login-sso")

    button.click()
    page.wait_for_url(f"{op.issuer}/**")
    page.locator("input[name=login]").fill("alice")
    page.locator("input[name=password]").fill("any")
    page.locator("button[type=submit]").click()
    page.wait_for_url(lambda url: url.startswith(op.issuer) and "/interaction/" in url)
    page.locator("button[type=submit]").click()  # the provider's consent
    page.wait_for_url(lambda url: url.startswith(screen.base_url) and "/login" not in url and "/sso/" not in url)

    screen.goto("/admin")
    page.get_by_role("link", name="Inloggning (SSO)").wait_for()  # Alice is an admin by her group
    with httpx.Client(base_url=screen.base_url, timeout=60) as http:
        users = http.get("/api/v1/users/", headers=admin.headers).json()["items"]
        members = http.get(f"/api/v1/user-groups/{group_id}/", headers=admin.headers).json()["members"]
    assert {(u["email"], u["role"]) for u in users} >= {(ALICE, "admin")}
    assert [m["email"] for m in members] == [ALICE]  # in the user group her claim maps to
