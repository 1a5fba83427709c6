"""Personal data in the assistant editor, in a real browser: an editor chooses to mask personal data before
the (external) model, the choice is saved, and a question with a personal identity number and a phone number
asked in the test pane reaches the fake provider masked while the page shows the answer with the real values
(the fake's placeholders arrive split across tokens). axe and screenshots of the editor.
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

TOKENS = ["Vi ringer ", "[TELE", "FON_1]", " om ", "[PERSON", "NUMMER_1]", "."]
QUESTION = "Mitt personnummer är 811218-9876. Ring mig på 070-123 45 67."
ANSWER = "Vi ringer 070-123 45 67 om 811218-9876."
CONTENT.update([QUESTION, ANSWER, "".join(TOKENS)])


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(tokens=TOKENS, delay=0.02) as server:
        yield server


@dataclass
class Org:
    editor: Actor
    space: str


@pytest.fixture(scope="module")
def org(stack: Any, fake: FakeLLMServer) -> Org:
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
        add_fake_model(http, admin, fake)
        space = http.post("/api/v1/spaces/", json={"name": "Socialtjänsten"}, headers=admin.headers).json()["id"]
        return Org(admin, space)


def test_an_editor_masks_personal_data_and_reads_the_answer_with_it(screen_factory: Any, org: Org,
                                                                      fake: FakeLLMServer) -> None:
    screen = screen_factory(lang="sv-SE")
    page = screen.page
    screen.goto(f"/assistants?space={org.space}&assistant=new")
    page.wait_for_url("**/login?next=*")
    sign_in(screen, org.editor.email)
    page.get_by_label("Namn", exact=True).wait_for()
    assert page.get_by_label("Som organisationen har valt").is_checked()  # the default
    page.get_by_label("Namn", exact=True).fill("Ekonomiskt bistånd")
    page.get_by_label("Maskera dem innan frågan skickas, och återställ dem i svaret").check()
    page.get_by_role("button", name="Skapa assistenten").click()
    page.get_by_role("heading", name="Redigera Ekonomiskt bistånd").wait_for()
    screen.shots("assistant-editor-personal-data")

    page.reload()  # the choice is saved
    page.get_by_role("heading", name="Redigera Ekonomiskt bistånd").wait_for()
    assert page.get_by_label("Maskera dem innan frågan skickas, och återställ dem i svaret").is_checked()

    box = page.get_by_label("Din fråga")
    box.fill(QUESTION)
    box.press("Enter")
    answer = page.get_by_test_id("answer").last
    answer.and_(page.locator("[data-status=completed]")).wait_for(timeout=30_000)
    assert ANSWER in answer.inner_text()
    sent = fake.requests[-1].body["messages"]
    assert sent[-1]["content"] == "Mitt personnummer är [PERSONNUMMER_1]. Ring mig på [TELEFON_1]."
    assert not any("811218" in str(m["content"]) or "070-123" in str(m["content"]) for m in sent)

    # The test pane asks with the choice as it is in the form, saved or not.
    page.get_by_label("Som organisationen har valt").check()
    page.get_by_text("Du har osparade ändringar").wait_for()
    box.fill(QUESTION)
    box.press("Enter")
    page.get_by_test_id("answer").nth(1).and_(page.locator("[data-status=completed]")).wait_for(timeout=30_000)
    assert fake.requests[-1].body["messages"][-1]["content"] == QUESTION  # the organisation masks nothing


def test_an_admin_marks_a_provider_of_their_own_as_local(screen_factory: Any, stack: Any, org: Org,
                                                          fake: FakeLLMServer) -> None:
    screen = screen_factory(lang="en-GB")
    page = screen.page
    screen.goto("/admin/models")
    page.wait_for_url("**/login?next=*")
    sign_in(screen, org.editor.email)
    page.get_by_role("heading", name="Model providers").wait_for()
    page.get_by_label("Name", exact=True).fill("Our vLLM")
    page.get_by_label("Address (base URL)").fill(fake.openai_url)
    local = page.get_by_label("Local: the organisation runs this server itself, so personal data is not masked for it")
    local.check()
    page.get_by_role("button", name="Create").first.click()
    provider = page.get_by_test_id("provider").filter(has_text="Our vLLM")
    provider.wait_for()
    assert "· no key · local\n" in provider.inner_text()
    assert not local.is_checked()  # the form is ready for the next one
    screen.axe("admin models (local provider)")
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        made = http.get("/api/v1/admin/model-providers/", headers=org.editor.headers).json()["items"]
    assert {(p["name"], p["local"]) for p in made} >= {("Our vLLM", True), ("Fake", False)}
