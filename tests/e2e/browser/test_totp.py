"""Two-step verification in a real browser: a user turns it on in their account (the key shown once, the
first code from an "app" (pyotp, from the key the page shows), the recovery codes shown once), signs out,
and signing in asks for the code after the password: a wrong code is refused in words, the next code signs
in, and later a recovery code does. axe and screenshots of the account screen and of the code prompt.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pyotp
import pytest

from tests.e2e.actors import PASSWORD, Actor, new_tenant, new_user
from tests.e2e.browser.conftest import Screen
from tests.e2e.browser.test_chat import sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def user(stack: Any) -> Actor:
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
        return new_user(http, admin)


def sign_out(screen: Screen) -> None:
    screen.page.get_by_role("button", name="Logga ut").click()
    screen.page.wait_for_url("**/login")


def test_turn_on_two_step_verification_and_sign_in_with_a_code(screen_factory: Any, user: Actor) -> None:
    screen = screen_factory(lang="sv-SE")
    page = screen.page
    screen.goto("/account")
    page.wait_for_url("**/login?next=*")
    sign_in(screen, user.email)
    section = page.get_by_test_id("totp")
    section.get_by_test_id("totp-state").get_by_text("Av.").wait_for()

    section.get_by_label("Ditt lösenord").fill("not the password")
    section.get_by_role("button", name="Slå på").click()
    section.get_by_role("alert").get_by_text("Det nuvarande lösenordet stämmer inte.").wait_for()
    section.get_by_label("Ditt lösenord").fill(PASSWORD)
    section.get_by_role("button", name="Slå på").click()
    secret = section.get_by_test_id("totp-secret").inner_text().strip()
    assert section.get_by_test_id("otpauth-link").get_attribute("href").startswith("otpauth://totp/Eneo:")
    app = pyotp.TOTP(secret)
    section.get_by_label("Kod från appen").fill(app.now())
    section.get_by_role("button", name="Bekräfta och slå på").click()
    codes = section.get_by_test_id("recovery-codes").locator("code")
    codes.nth(9).wait_for()
    recovery = [codes.nth(i).inner_text() for i in range(10)]
    section.get_by_test_id("totp-state").get_by_text("På:").wait_for()
    screen.shots("account-totp")

    sign_out(screen)
    sign_in(screen, user.email)  # the password was right: the code is asked for, not an error
    code_box = page.get_by_label("Kod från autentiseringsappen")
    code_box.wait_for()
    assert page.evaluate("document.activeElement.id") == "otp"
    assert page.get_by_test_id("login-error").count() == 0
    screen.axe("sign-in code")
    screen.shot("login-code")
    code_box.fill("000000")
    page.get_by_role("button", name="Logga in").click()
    page.get_by_test_id("login-error").get_by_text("Koden stämmer inte").wait_for()
    code_box.fill(app.at(time.time() + 30))  # the next code: the one confirmed cannot be used again
    page.get_by_role("button", name="Logga in").click()
    page.wait_for_url(lambda url: "/login" not in url)

    screen.goto("/account")
    page.get_by_test_id("totp-state").get_by_text("På:").wait_for()
    sign_out(screen)
    sign_in(screen, user.email)
    page.get_by_label("Kod från autentiseringsappen").fill(recovery[0].upper())
    page.get_by_role("button", name="Logga in").click()
    page.wait_for_url(lambda url: "/login" not in url)
