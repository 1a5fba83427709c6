"""The usage screen in a real browser: a tenant admin sees this month's tokens by user (a question answered by
the fake model), storage by collection, and sets a per-user token quota, after which the next question is
refused before the model is asked. axe and screenshots on the screen.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.actors import CONTENT, Actor, add_fake_model, new_tenant
from tests.e2e.browser.test_chat import sign_in
from tests.fakes.llm_server import FakeLLMServer

pytestmark = pytest.mark.e2e
TOKENS = ["Fyra ", "ord ", "i ", "svaret."]
CONTENT.update(["".join(TOKENS), "Hur mycket kostar det?"])


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(tokens=TOKENS) as server:
        yield server


@dataclass
class Org:
    admin: Actor
    assistant: str


@pytest.fixture(scope="module")
def org(stack: Any, fake: FakeLLMServer) -> Org:
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
        add_fake_model(http, admin, fake)
        space = http.post("/api/v1/spaces/", json={"name": "Ekonomi"}, headers=admin.headers).json()["id"]
        http.post(f"/api/v1/spaces/{space}/knowledge/groups/", json={"name": "Budget"}, headers=admin.headers)
        assistant = http.post(f"/api/v1/spaces/{space}/applications/assistants/", headers=admin.headers,
                              json={"name": "Kalkyl", "published": True}).json()["id"]
        r = http.post(f"/api/v1/assistants/{assistant}/sessions/", json={"question": "Hur mycket kostar det?"},
                      headers=admin.headers)
        assert r.status_code == 201, r.text
        return Org(admin, assistant)


def test_an_admin_sees_usage_and_sets_a_quota_that_refuses_the_next_question(
        screen_factory: Any, org: Org, fake: FakeLLMServer, stack: Any) -> None:
    screen = screen_factory(lang="en-GB")
    page = screen.page
    screen.goto("/admin/usage")
    page.wait_for_url("**/login?next=*")
    sign_in(screen, org.admin.email)
    page.get_by_role("heading", name="Tokens this month by user").wait_for()
    row = page.get_by_test_id("usage-row")
    row.first.wait_for()
    assert row.count() == 1 and org.admin.email in row.first.inner_text()
    cells = row.first.locator("td").all_inner_texts()
    assert cells[1] == "1" and cells[3] == "4"  # one question, the fake's four output tokens
    storage = page.get_by_test_id("storage-row")
    assert storage.first.locator("td").all_inner_texts() == ["Budget", "0", "0"]
    screen.shots("admin-usage")

    page.get_by_label("Tokens per month for each user").fill("1")
    page.get_by_role("button", name="Save the quotas").click()
    page.get_by_test_id("status").filter(has_text="The quotas are saved.").wait_for()
    assert page.get_by_label("Tokens per month for each user").input_value() == "1"

    sent = len(fake.requests)
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        r = http.post(f"/api/v1/assistants/{org.assistant}/sessions/", json={"question": "Hur mycket kostar det?"},
                      headers=org.admin.headers)
    assert (r.status_code, r.json()["code"]) == (429, "user_token_quota_exceeded")
    assert len(fake.requests) == sent
