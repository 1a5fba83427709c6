"""The account, spaces and admin screens in a real browser against the session's stack.

An admin invites a user who chooses a password and signs in; an admin's provider, test connection and
models; a space admin adds a member as viewer, who sees no edit controls; change password (the policy's
refusal in words); an API key created (shown once) and revoked. axe on every screen, screenshots in
Swedish and English, light and dark. A session outliving its access token is test_session_renewal.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.actors import ISSUED, PASSWORD, Actor, new_tenant, new_user
from tests.e2e.browser.conftest import Screen
from tests.e2e.conftest import Stack
from tests.fakes.llm_server import FakeLLMServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def http(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(token_count=4) as server:
        yield server


@pytest.fixture
def tenant(http: httpx.Client, stack: Stack) -> tuple[Actor, Actor]:
    """A fresh organisation per test: its admin and one user."""
    _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
    return admin, new_user(http, admin)


def text(screen: Screen, sv: str, en: str) -> str:
    return sv if screen.lang == "sv" else en


def sign_in(screen: Screen, email: str, password: str = PASSWORD, path: str = "/login") -> None:
    page = screen.page
    screen.goto(path)
    page.get_by_label(text(screen, "E-postadress", "E-mail address")).fill(email)
    page.get_by_label(text(screen, "Lösenord", "Password")).fill(password)
    page.get_by_role("button", name=text(screen, "Logga in", "Sign in")).click()
    page.wait_for_function("() => !location.pathname.startsWith('/login')")


def accept_dialogs(screen: Screen) -> list[str]:
    """Confirm every destructive action's dialog; the messages asked, in order."""
    asked: list[str] = []

    def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    screen.page.on("dialog", accept)
    return asked


def test_an_admin_invites_a_user_who_signs_in(screen_factory: Any, tenant: Any) -> None:
    admin, user = tenant
    for lang, scheme in (("sv-SE", "light"), ("en-GB", "dark")):
        screen = screen_factory(lang=lang, scheme=scheme)
        sign_in(screen, admin.email, path="/admin")
        screen.page.get_by_test_id("users").wait_for()
        if lang == "sv-SE":  # the first pass photographs all four; the English one checks its own start
            screen.shots("admin-users")
        else:
            screen.axe("admin-users")

    # Swedish, light: invite someone (no password: an invitation link, shown once).
    screen = screen_factory(lang="sv-SE")
    page = screen.page
    asked = accept_dialogs(screen)
    sign_in(screen, admin.email, path="/admin")
    email = f"ny-{uuid.uuid4().hex[:8]}@kommun.se"
    page.get_by_label("E-postadress").fill(email)
    page.get_by_label("Namn").fill("Nya Nilsson")
    page.get_by_role("button", name="Bjud in").click()
    link = page.get_by_test_id("invitation-link").inner_text().strip()
    assert link.startswith(f"{screen.base_url}/invitation?token=")
    ISSUED.add(link.split("token=", 1)[1])
    invited = page.locator(f"[data-testid=user][data-email='{email}']")
    assert invited.get_attribute("data-state") == "invited"
    screen.shots("admin-invitation")

    # The invited person opens the link, is refused a weak password in words, chooses one and signs in.
    guest = screen_factory(lang="sv-SE")
    guest.page.goto(link)
    guest.page.get_by_role("heading", name="Välj lösenord").wait_for()
    guest.axe("invitation")
    guest.page.get_by_label("Nytt lösenord").fill("kort")
    guest.page.get_by_label("Upprepa det nya lösenordet").fill("kort")
    guest.page.get_by_role("button", name="Spara lösenordet").click()
    assert guest.page.get_by_test_id("error").inner_text() == "Lösenordet är för kort: minst 12 tecken."
    chosen = "snö på taken i januari 7"
    guest.page.get_by_label("Nytt lösenord").fill(chosen)
    guest.page.get_by_label("Upprepa det nya lösenordet").fill(chosen)
    guest.page.get_by_role("button", name="Spara lösenordet").click()
    guest.page.get_by_role("link", name="Till inloggningen").click()
    guest.page.wait_for_url("**/login")
    sign_in(guest, email, chosen)
    guest.page.get_by_role("link", name="Chatt").wait_for()
    assert guest.page.get_by_role("link", name="Administration").count() == 0  # not an admin

    # Deactivate (confirmed), reactivate, delete (confirmed).
    page.reload()
    row = page.locator(f"[data-testid=user][data-email='{user.email}']")
    row.get_by_role("button", name="Inaktivera User").click()
    page.locator(f"[data-testid=user][data-email='{user.email}'][data-state=deactivated]").wait_for()
    assert page.get_by_test_id("status").inner_text() == "Klart."
    row.get_by_role("button", name="Återaktivera User").click()
    page.locator(f"[data-testid=user][data-email='{user.email}'][data-state=active]").wait_for()
    invited.get_by_role("button", name="Ta bort Nya Nilsson").click()
    invited.wait_for(state="detached")
    assert asked == ["Inaktivera User? Personen loggas ut direkt.", "Ta bort Nya Nilsson för gott?"]


def test_an_admin_adds_a_provider_tests_it_and_sets_models(screen_factory: Any, tenant: Any,
                                                           fake: FakeLLMServer) -> None:
    admin, _ = tenant
    screen = screen_factory(lang="en-GB")
    page = screen.page
    sign_in(screen, admin.email, path="/admin/models")
    page.get_by_role("heading", name="Model providers").wait_for()
    page.get_by_label("Name", exact=True).fill("Fake")
    page.get_by_label("Address (base URL)").fill(fake.openai_url)
    page.get_by_label("API key (stored encrypted, never shown)").fill(fake.api_key or "")
    ISSUED.add(fake.api_key or "")
    page.get_by_role("button", name="Create").first.click()
    provider = page.get_by_test_id("provider").filter(has_text="Fake")
    provider.wait_for()
    assert (fake.api_key or "") not in page.content()  # the key is never shown back
    provider.get_by_role("button", name="Test the connection to Fake").click()
    assert page.get_by_test_id("status").inner_text() == "The connection to Fake works."

    page.get_by_label("Model name at the provider").fill("fake-model")
    page.get_by_label("Display name (optional)").fill("Fake GPT")
    page.locator("[data-testid=completion-models]").get_by_role("button", name="Create").click()
    model = page.locator("[data-testid=completion-models] [data-testid=model][data-name=fake-model]")
    model.wait_for()
    model.get_by_role("button", name="Make Fake GPT the default").click()
    model.get_by_text("default", exact=True).wait_for()
    model.get_by_label("Fake GPT enabled").uncheck()
    page.get_by_test_id("status").wait_for()
    page.wait_for_function("() => !document.querySelector(\"[data-testid=completion-models] "
                           "[data-name=fake-model] input[type=checkbox]\").checked")
    screen.shots("admin-models")


def test_a_space_admin_adds_a_viewer_who_sees_no_edit_controls(screen_factory: Any, tenant: Any, http: httpx.Client,
                                                               stack: Stack) -> None:
    admin, user = tenant
    screen = screen_factory(lang="sv-SE")
    page = screen.page
    asked = accept_dialogs(screen)
    sign_in(screen, admin.email, path="/spaces")
    page.get_by_label("Utrymmets namn").fill("Gatukontoret")
    page.get_by_role("button", name="Skapa").click()
    page.get_by_role("heading", name="Gatukontoret", level=1).wait_for()
    space_path = page.url.removeprefix(screen.base_url)
    page.get_by_label("Användare", exact=True).select_option(label=f"User ({user.email})")
    page.get_by_label("Roll", exact=True).select_option("editor")
    page.get_by_role("button", name="Lägg till", exact=True).click()
    page.get_by_label("Roll för User").wait_for()
    assert page.get_by_label("Roll för User").input_value() == "editor"
    page.get_by_label("Roll för User").select_option("viewer")
    page.get_by_text("Rollen är ändrad.").wait_for()
    screen.shots("space-admin")

    for lang, scheme in (("sv-SE", "light"), ("en-GB", "dark")):
        viewer = screen_factory(lang=lang, scheme=scheme)
        sign_in(viewer, user.email, path="/spaces")
        viewer.page.get_by_role("link", name="Gatukontoret").click()
        viewer.page.get_by_test_id("view-only").wait_for()
        assert viewer.page.get_by_test_id("my-role").inner_text() == text(viewer, "Din roll: Läsare",
                                                                          "Your role: Viewer")
        main = viewer.page.get_by_role("main")
        assert main.get_by_role("combobox").count() == 0  # no role pickers
        assert main.get_by_role("button").count() == 0  # no add, remove or delete
        assert main.get_by_role("textbox").count() == 0
        if lang == "sv-SE":  # the first pass photographs all four; the English one checks its own start
            viewer.shots("space-viewer")
        else:
            viewer.axe("space-viewer")
        viewer.goto("/spaces")
        viewer.page.get_by_role("heading", name=text(viewer, "Delade utrymmen", "Shared spaces")).wait_for()
        if lang == "sv-SE":  # the first pass photographs all four; the English one checks its own start
            viewer.shots("spaces")
        else:
            viewer.axe("spaces")

    # Made a space admin, the user (not a tenant admin, so no list of users) adds a colleague by e-mail; an
    # address of another organisation is refused exactly as an unknown one.
    r = http.patch(f"/api/v1{space_path}/members/{user.id}/", json={"role": "admin"}, headers=admin.headers)
    assert r.status_code == 200, r.text
    colleague = http.post("/api/v1/users/", headers=admin.headers, json={
        "email": f"kollega-{uuid.uuid4().hex[:8]}@kommun.se", "name": "Kollega", "password": PASSWORD}).json()
    _, outsider = new_tenant(http, {"X-API-Key": stack.super_api_key})
    other = screen_factory(lang="en-GB", scheme="dark")
    sign_in(other, user.email, path=space_path)
    email_field = other.page.get_by_label("Colleague's e-mail address")
    for address in (outsider.email, "nobody@kommun.se"):
        email_field.fill(address)
        other.page.get_by_role("button", name="Add", exact=True).click()
        other.page.get_by_test_id("error").filter(
            has_text="Nobody in your organisation has that e-mail address.").wait_for()
    email_field.fill(colleague["email"].upper())
    other.page.get_by_role("button", name="Add", exact=True).click()
    other.page.get_by_text("The member is added.").wait_for()
    assert other.page.get_by_label("Role of Kollega").input_value() == "viewer"
    assert outsider.email not in other.page.content()
    other.shots("space-admin-by-email")

    # The admin removes the member (confirmed).
    screen.goto(space_path)
    page.get_by_role("button", name="Ta bort User").click()
    page.get_by_text("Medlemmen är borttagen.").wait_for()
    assert page.get_by_label("Roll för User").count() == 0
    assert asked == ["Ta bort User från utrymmet?"]


def test_change_password_and_an_api_key(screen_factory: Any, tenant: Any, http: httpx.Client) -> None:
    _, user = tenant
    screen = screen_factory(lang="en-GB", scheme="dark")
    page = screen.page
    asked = accept_dialogs(screen)
    sign_in(screen, user.email, path="/account")
    page.get_by_role("heading", name="Change password", level=2).wait_for()
    screen.shots("account")

    # The policy's refusal, in words; then a good password.
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("password1234")
    page.get_by_label("Repeat the new password").fill("password1234")
    page.get_by_role("button", name="Change password").click()
    assert page.get_by_test_id("error").inner_text() == (
        "The password is one of the most common passwords. Choose another.")
    new_password = "winter roads are ploughed first 9"
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill(new_password)
    page.get_by_label("Repeat the new password").fill(new_password)
    page.get_by_role("button", name="Change password").click()
    page.get_by_text("Your password is changed.", exact=False).wait_for()
    # Other sessions ended (the one the test helper opened), this page goes on with its new one.
    ended = http.get("/api/v1/users/me/", headers=user.headers)
    assert ended.status_code == 401 and ended.json()["code"] in ("session_ended", "token_revoked"), ended.text
    assert http.post("/api/v1/users/login/token/",
                     data={"username": user.email, "password": new_password}).status_code == 200

    # An API key: the secret once, with a copy button; it works until revoked.
    page.get_by_label("Name of the key").fill("Rapportskript")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("key-secret").inner_text().strip()
    ISSUED.add(secret)
    assert page.get_by_role("button", name="Copy the key").is_visible()
    assert http.get("/api/v1/users/me/", headers={"X-API-Key": secret}).status_code == 200
    screen.shots("account-new-key")
    page.get_by_role("button", name="Revoke Rapportskript").click()
    page.get_by_text("The key “Rapportskript” is revoked.").wait_for()
    assert page.locator("[data-testid=key][data-revoked=true]").count() == 1
    assert page.get_by_test_id("key-secret").count() == 0
    assert asked == ["Revoke the key “Rapportskript”? Programs that use it stop working at once."]
    assert http.get("/api/v1/users/me/", headers={"X-API-Key": secret}).status_code == 401

    # Phone width: one column, nothing wider than the screen.
    phone = screen_factory(lang="sv-SE", width=390)
    sign_in(phone, user.email, new_password, path="/account")
    phone.page.get_by_role("heading", name="Mina API-nycklar").wait_for()
    assert phone.page.evaluate("() => document.documentElement.scrollWidth") <= 390
    phone.axe("account (phone)")
    phone.shot("account-phone")
