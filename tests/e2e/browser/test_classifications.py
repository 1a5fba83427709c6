"""The security classifications' admin screen in a real browser: a tenant admin makes three levels, classifies
the assistant's model and then its space above it, and the screen says in words which assistant stopped; moving
a level changes the order the API holds; a level still carried is not deleted and the screen says why. axe and
screenshots on the screen.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.actors import Actor, add_fake_model, new_tenant
from tests.e2e.browser.test_admin import accept_dialogs
from tests.e2e.browser.test_chat import sign_in
from tests.fakes.llm_server import FakeLLMServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(tokens=["Hej."]) as server:
        yield server


@dataclass
class Org:
    admin: Actor
    space: str
    model: str


@pytest.fixture(scope="module")
def org(stack: Any, fake: FakeLLMServer) -> Org:
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
        model = add_fake_model(http, admin, fake)
        space = http.post("/api/v1/spaces/", json={"name": "Socialtjänst"}, headers=admin.headers).json()["id"]
        r = http.post(f"/api/v1/spaces/{space}/applications/assistants/", headers=admin.headers,
                      json={"name": "Hjälpreda", "completion_model_id": model, "published": True})
        assert r.status_code == 201, r.text
        return Org(admin, space, model)


def levels(stack: Any, org: Org) -> list[str]:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        items = http.get("/api/v1/security-classifications/", headers=org.admin.headers).json()["items"]
    return [level["name"] for level in items]


def test_an_admin_orders_levels_classifies_and_learns_what_stopped(screen_factory: Any, org: Org,
                                                                  stack: Any) -> None:
    screen = screen_factory(lang="en-GB")
    page = screen.page
    asked = accept_dialogs(screen)
    screen.goto("/admin/classifications")
    page.wait_for_url("**/login?next=*")
    sign_in(screen, org.admin.email)
    page.get_by_role("heading", name="Levels, lowest first").wait_for()
    assert page.get_by_role("link", name="Security classifications").get_attribute("aria-current") == "page"
    for name in ("Öppen", "Intern", "Skyddad"):
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_role("button", name="Create").click()
        page.locator(f'[data-testid="level"][data-name="{name}"]').wait_for()
    assert page.get_by_test_id("level").evaluate_all("rows => rows.map(r => r.dataset.name)") == [
        "Öppen", "Intern", "Skyddad"]

    page.get_by_label("fake-model").select_option(label="Intern")
    page.get_by_test_id("status").filter(has_text="Saved.").wait_for()
    page.get_by_label("Socialtjänst").select_option(label="Skyddad")
    page.get_by_test_id("status").filter(has_text="Stopped working: Hjälpreda").wait_for()
    screen.shots("admin-classifications")

    page.get_by_role("button", name="Move Skyddad down").click()
    page.get_by_test_id("status").filter(has_text="Saved.").wait_for()
    page.wait_for_function("() => document.querySelector('[data-testid=level]:nth-child(2)')?.dataset.name"
                           " === 'Skyddad'")
    assert levels(stack, org) == ["Öppen", "Skyddad", "Intern"]

    page.get_by_role("button", name="Delete Intern").click()
    page.get_by_test_id("error").filter(has_text="carries this level").wait_for()
    page.get_by_role("button", name="Delete Öppen").click()
    page.locator('[data-testid="level"][data-name="Öppen"]').wait_for(state="detached")
    assert asked == ["Delete the level Intern?", "Delete the level Öppen?"]
    assert levels(stack, org) == ["Skyddad", "Intern"]
