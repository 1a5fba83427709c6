"""The roles and groups screens in a real browser: an admin creates a custom role with one permission, gives
it to a user (through the API), who then sees only the administration page that permission opens; the admin
creates a user group, adds and removes a member, renames and deletes it. axe and screenshots on both screens.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.actors import new_tenant, new_user
from tests.e2e.browser.test_admin import accept_dialogs
from tests.e2e.browser.test_chat import sign_in

pytestmark = pytest.mark.e2e


def test_an_admin_makes_a_role_and_its_holder_sees_only_what_it_opens(screen_factory: Any, stack: Any) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
        staff = new_user(http, admin)
    screen = screen_factory(lang="en-GB")
    page = screen.page
    accept_dialogs(screen)
    screen.goto("/admin/roles")
    page.wait_for_url("**/login?next=*")
    sign_in(screen, admin.email)
    page.get_by_role("heading", name="New role").wait_for()
    page.get_by_label("Name", exact=True).fill("Controller")
    page.get_by_label("Use assistants").uncheck()
    page.get_by_label("See insights").check()
    page.get_by_role("button", name="Create the role").click()
    page.get_by_test_id("status").filter(has_text="The role Controller is created.").wait_for()
    role = page.locator("[data-testid=role][data-name=Controller]")
    assert role.get_by_test_id("role-permissions").inner_text() == "See insights"
    assert page.get_by_test_id("role").count() == 3  # the two built-in roles, then ours
    screen.shots("admin-roles")

    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        role_id = next(r["id"] for r in http.get("/api/v1/roles/", headers=admin.headers).json()["items"]
                       if r["name"] == "Controller")
        assert http.patch(f"/api/v1/users/{staff.id}/", json={"role_id": role_id},
                          headers=admin.headers).status_code == 200
    other = screen_factory(lang="en-GB")
    other.goto("/admin/usage")
    other.page.wait_for_url("**/login?next=*")
    sign_in(other, staff.email)
    other.page.get_by_role("heading", name="Tokens this month by user").wait_for()
    links = other.page.get_by_role("navigation", name="Administration").get_by_role("link").all_inner_texts()
    assert links == ["Usage"]

    # Change it, then delete it (refused while held: the admin gives the user the built-in role back first).
    role.get_by_role("button", name="Edit Controller").click()
    role.get_by_label("Administer the audit log").check()
    page.get_by_role("button", name="Save the role").click()
    page.get_by_test_id("status").filter(has_text="The role is saved.").wait_for()
    assert role.get_by_test_id("role-permissions").inner_text() == "See insights, Administer the audit log"
    role.get_by_role("button", name="Delete Controller").click()
    page.get_by_role("alert").filter(has_text="1 user(s) have this role").wait_for()


def test_an_admin_manages_a_group_and_its_members(screen_factory: Any, stack: Any) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
        staff = new_user(http, admin)
    screen = screen_factory(lang="en-GB")
    page = screen.page
    accept_dialogs(screen)
    screen.goto("/admin/groups")
    page.wait_for_url("**/login?next=*")
    sign_in(screen, admin.email)
    page.get_by_role("heading", name="New group").wait_for()
    page.get_by_label("Name", exact=True).fill("Social services")
    page.get_by_role("button", name="Create the group").click()
    page.get_by_test_id("status").filter(has_text="The group Social services is created.").wait_for()
    page.get_by_role("button", name="Show Social services").click()
    detail = page.get_by_test_id("group-detail")
    detail.get_by_label("Add a user").select_option(label=f"User ({staff.email})")
    detail.get_by_role("button", name="Add", exact=True).click()
    detail.locator(f"[data-testid=group-member][data-email='{staff.email}']").wait_for()
    assert "1 members" in page.locator("[data-testid=group][data-name='Social services']").inner_text()
    screen.shots("admin-groups")

    detail.get_by_role("button", name="Remove User from the group").click()
    detail.get_by_text("The group has no members.").wait_for()
    detail.get_by_label("The group's name").fill("Care")
    detail.get_by_role("button", name="Save the name").click()
    page.locator("[data-testid=group][data-name=Care]").wait_for()
    page.get_by_role("button", name="Delete Care").click()
    page.get_by_text("No groups yet.").wait_for()
