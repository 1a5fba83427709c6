"""The audit log's admin screen in a real browser: a tenant admin sees the organisation's events newest first
(an API key made, a colleague's failed sign-in), narrows them to failed sign-ins, exports them as CSV (the
file the browser saves holds the same rows), and a user who is not an admin sees the notice, not the log.
axe and screenshots on the screen.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.actors import ISSUED, Actor, new_tenant, new_user
from tests.e2e.browser.test_chat import sign_in

pytestmark = pytest.mark.e2e


@dataclass
class Org:
    admin: Actor
    user: Actor


@pytest.fixture(scope="module")
def org(stack: Any) -> Org:
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
        user = new_user(http, admin)
        key = http.post("/api/v1/api-keys/", json={"name": "Nattlig export"}, headers=admin.headers)
        assert key.status_code == 201, key.text
        ISSUED.add(key.json()["key"])
        wrong = http.post("/api/v1/users/login/token/", data={"username": user.email,
                                                              "password": f"wrong {uuid.uuid4().hex}"})
        assert wrong.status_code == 401
        return Org(admin, user)


def test_an_admin_reads_filters_and_exports_the_audit_log(screen_factory: Any, org: Org, tmp_path: Path) -> None:
    screen = screen_factory(lang="sv-SE")
    page = screen.page
    screen.goto("/admin/audit")
    page.wait_for_url("**/login?next=*")
    sign_in(screen, org.admin.email)
    page.get_by_role("heading", name="Granskningslogg").wait_for()
    assert page.get_by_role("link", name="Granskningslogg").get_attribute("aria-current") == "page"
    rows = page.get_by_test_id("audit-entry")
    rows.first.wait_for()
    actions = rows.evaluate_all("rows => rows.map(r => [r.dataset.action, r.dataset.outcome])")
    # Newest first: the admin's sign-in in this browser, the user's failed one, the key, the earlier sign-ins.
    assert actions[:3] == [["auth.login", "success"], ["auth.login", "failure"], ["api_key.created", "success"]]
    key_row = rows.filter(has_text="Nattlig export")
    assert org.admin.email in key_row.inner_text()
    screen.shots("admin-audit")

    page.get_by_label("Händelser", exact=True).select_option(label="Inloggningar")
    page.get_by_label("Utfall", exact=True).select_option(label="Misslyckades")
    page.get_by_role("button", name="Visa", exact=True).click()
    page.wait_for_function("() => document.querySelectorAll('[data-testid=audit-entry]').length === 1")
    failed = rows.first
    assert (failed.get_attribute("data-action"), failed.get_attribute("data-outcome")) == ("auth.login", "failure")
    assert org.user.email in failed.inner_text() and "Misslyckades" in failed.inner_text()

    with page.expect_download() as download:
        page.get_by_role("button", name="Exportera som CSV").click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name.startswith("audit-") and saved.suffix == ".csv"
    exported = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert [(r["action"], r["outcome"], r["target_label"]) for r in exported] == [
        ("auth.login", "failure", org.user.email)]
    page.get_by_test_id("status").filter(has_text=saved.name).wait_for()

    page.get_by_label("Händelser", exact=True).select_option(label="Granskningsloggen")
    page.get_by_label("Utfall", exact=True).select_option(label="Alla")
    page.get_by_role("button", name="Visa", exact=True).click()
    page.wait_for_function("() => document.querySelector('[data-testid=audit-entry]')?.dataset.action "
                           "=== 'audit.exported'")


def test_a_user_who_is_not_an_admin_sees_no_log(screen_factory: Any, org: Org) -> None:
    screen = screen_factory(lang="en-GB")
    page = screen.page
    screen.goto("/admin/audit")
    page.wait_for_url("**/login?next=*")
    sign_in(screen, org.user.email)
    page.get_by_text("This page is for the organisation's administrators.").wait_for()
    assert page.get_by_test_id("audit").count() == 0
