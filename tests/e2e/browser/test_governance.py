"""Governance in a real browser (issue 15's leftovers): a space admin gives a user group a role in a space,
an admin limits a model to a group and clears the limit, and a tenant admin turns on personal-data
protection in the organisation's settings. Each effect is checked through the API, as the people concerned
would notice it (the group's member sees the space; a user outside the group is refused the model); those
without the right see no such controls. axe (0 serious/critical) and screenshots on every screen.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.actors import Actor, add_fake_model, new_tenant, new_user
from tests.e2e.browser.test_admin import accept_dialogs
from tests.e2e.browser.test_chat import sign_in
from tests.fakes.llm_server import FakeLLMServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(token_count=4) as server:
        yield server


def _group(http: httpx.Client, admin: Actor, name: str, *members: Actor) -> str:
    made = http.post("/api/v1/user-groups/", json={"name": name}, headers=admin.headers)
    assert made.status_code == 201, made.text
    for member in members:
        added = http.post(f"/api/v1/user-groups/{made.json()['id']}/members/", json={"user_id": member.id},
                          headers=admin.headers)
        assert added.status_code == 201, added.text
    return str(made.json()["id"])


def _sees(http: httpx.Client, who: Actor, space: str) -> str | None:
    """The role `who` has in the space as the API tells them, None when they cannot see it."""
    r = http.get(f"/api/v1/spaces/{space}/", headers=who.headers)
    assert r.status_code in (200, 404), r.text
    return r.json()["my_role"] if r.status_code == 200 else None


def test_a_space_admin_gives_a_group_a_role_and_its_member_sees_the_space(screen_factory: Any, stack: Any) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
        staff, outsider = new_user(http, admin), new_user(http, admin)
        _group(http, admin, "Socialtjänsten", staff)
        space = http.post("/api/v1/spaces/", json={"name": "Försörjningsstöd"}, headers=admin.headers).json()["id"]
        assert _sees(http, staff, space) is None
    screen = screen_factory(lang="en-GB")
    page = screen.page
    accept_dialogs(screen)
    screen.goto(f"/spaces/{space}")
    page.wait_for_url("**/login?next=*")
    sign_in(screen, admin.email)
    page.get_by_text("No groups are members.").wait_for()
    page.get_by_label("Add a group").select_option(label="Socialtjänsten")
    page.get_by_label("The group's role").select_option(label="Editor")
    page.get_by_role("button", name="Add the group").click()
    page.get_by_test_id("status").filter(has_text="The group is added.").wait_for()
    row = page.locator("[data-testid=group-member][data-name='Socialtjänsten']")
    assert row.get_by_label("Role of Socialtjänsten").input_value() == "editor"
    screen.shots("space-groups")
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        assert (_sees(http, staff, space), _sees(http, outsider, space)) == ("editor", None)

    # The group's member, an editor through it, sees the group and no control to change it.
    member = screen_factory(lang="en-GB")
    member.goto(f"/spaces/{space}")
    member.page.wait_for_url("**/login?next=*")
    sign_in(member, staff.email)
    member.page.locator("[data-testid=group-member][data-name='Socialtjänsten']").wait_for()
    assert member.page.get_by_test_id("my-role").inner_text() == "Your role: Editor"
    assert member.page.get_by_label("Add a group").count() == 0
    assert member.page.get_by_role("button", name="Remove the group Socialtjänsten").count() == 0
    member.axe("space-groups-member")

    # Keyboard only: the role select and the remove button are reached and used without a mouse.
    row.get_by_label("Role of Socialtjänsten").focus()
    page.keyboard.press("ArrowUp")  # Editor -> Viewer
    page.get_by_test_id("status").filter(has_text="changed").wait_for()
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        assert _sees(http, staff, space) == "viewer"
    row.get_by_role("button", name="Remove the group Socialtjänsten").focus()
    page.keyboard.press("Enter")
    page.get_by_text("No groups are members.").wait_for()
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        assert _sees(http, staff, space) is None


def test_an_admin_limits_a_model_to_a_group_and_clears_the_limit(screen_factory: Any, stack: Any,
                                                                 fake: FakeLLMServer) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
        lawyer, outsider = new_user(http, admin), new_user(http, admin)
        _group(http, admin, "Jurister", lawyer)
        model = add_fake_model(http, admin, fake)
        personal = next(s["id"] for s in http.get("/api/v1/spaces/", headers=outsider.headers).json()["items"]
                        if s["personal"])
        assistant = http.post(f"/api/v1/spaces/{personal}/applications/assistants/", headers=outsider.headers,
                              json={"name": "Mina frågor", "system_prompt": "Du svarar kort."}).json()["id"]
    screen = screen_factory(lang="en-GB")
    page = screen.page
    screen.goto("/admin/models")
    page.wait_for_url("**/login?next=*")
    sign_in(screen, admin.email)
    row = page.locator("[data-testid=model][data-name='fake-model']")
    row.get_by_test_id("audience").filter(has_text="Everyone may use it").wait_for()
    row.get_by_text("Who may use fake-model?").click()
    row.get_by_role("group", name="Limit fake-model to the user groups").get_by_label("Jurister").check()
    row.get_by_role("button", name="Save the limit of fake-model").click()
    page.get_by_test_id("status").filter(has_text="fake-model is limited to the chosen groups.").wait_for()
    row.get_by_test_id("audience").filter(has_text="Only the groups: Jurister").wait_for()
    screen.shots("admin-models-groups")

    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        limited = http.get(f"/api/v1/completion-models/{model}/", headers=admin.headers).json()
        assert len(limited["allowed_group_ids"]) == 1
        fake.reset()
        refused = http.post(f"/api/v1/assistants/{assistant}/sessions/", headers=outsider.headers,
                            json={"question": "Hur överklagar jag?"})
        assert (refused.status_code, refused.json()["code"]) == (403, "model_not_allowed"), refused.text
        assert fake.requests == []  # refused before the provider

    row.get_by_role("button", name="Clear the limit of fake-model").click()
    page.get_by_test_id("status").filter(has_text="Everyone may use fake-model.").wait_for()
    row.get_by_test_id("audience").filter(has_text="Everyone may use it").wait_for()
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        assert http.get(f"/api/v1/completion-models/{model}/", headers=admin.headers).json()["allowed_group_ids"] == []
        asked = http.post(f"/api/v1/assistants/{assistant}/sessions/", headers=outsider.headers,
                          json={"question": "Hur överklagar jag?"})
        assert asked.status_code == 201, asked.text


def test_a_tenant_admin_turns_on_personal_data_protection(screen_factory: Any, stack: Any) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
        staff = new_user(http, admin)
    screen = screen_factory(lang="sv-SE")
    page = screen.page
    screen.goto("/admin/settings")
    page.wait_for_url("**/login?next=*")
    sign_in(screen, admin.email)
    protect = page.get_by_label("Skydda personuppgifter för alla assistenter")
    assert not protect.is_checked()
    screen.shots("admin-settings")
    protect.check()
    page.get_by_label("Granskningsloggen sparas (dagar)").fill("730")
    page.get_by_role("button", name="Spara inställningarna").click()
    page.get_by_test_id("status").filter(has_text="Inställningarna är sparade.").wait_for()
    page.get_by_text("Nu 730 dagar.").wait_for()

    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        seen = http.get("/api/v1/settings/", headers=staff.headers).json()  # any user of the organisation
        assert (seen["protect_personal_data"], seen["audit_retention_days"]) == (True, 730)
        logged = http.get("/api/v1/audit/logs/", params={"action": "settings.updated"}, headers=admin.headers)
        assert [e["details"]["changed"] for e in logged.json()["items"]] == [
            ["audit_retention_days", "protect_personal_data"]]

    # A user without administer_audit: no link to the screen, and the screen shows no switch.
    other = screen_factory(lang="sv-SE")
    other.goto("/admin/settings")
    other.page.wait_for_url("**/login?next=*")
    sign_in(other, staff.email)
    other.page.get_by_role("alert").filter(has_text="Den här sidan är för organisationens administratörer.").wait_for()
    assert other.page.get_by_label("Skydda personuppgifter för alla assistenter").count() == 0
