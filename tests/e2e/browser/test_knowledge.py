"""The knowledge and assistant screens in a real browser: an editor makes a collection, uploads a PDF and a
DOCX (and drops a third file) through the presigned POST straight to the stack's S3, sees each reach ready
over the events WebSocket, tries a search, reads what one of them became, makes an assistant that answers
from the collection and asks it in the editor's test pane, then opens the citation. A file the limits refuse
is refused before anything is sent. A viewer of the space sees no edit controls. axe and screenshots on
every screen.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.actors import CONTENT, Actor, add_fake_model, new_tenant, new_user
from tests.e2e.browser.conftest import Screen
from tests.e2e.browser.test_chat import screen_text, sign_in
from tests.fakes.llm_server import FakeLLMServer

pytestmark = pytest.mark.e2e

DOCUMENTS = Path(__file__).resolve().parents[2] / "fixtures" / "documents"
TOKENS = ["Gång- ", "och ", "cykelvägar ", "röjs ", "först ", "[1]", "."]
READY_TIMEOUT = 120_000  # ms: ingestion and the local embedder share 2 cores with other stacks in CI
CONTENT.update(["".join(TOKENS)])


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(tokens=TOKENS, delay=0.02) as server:
        yield server


@dataclass
class Org:
    editor: Actor
    viewer: Actor
    space: str
    group: str  # a collection the viewer can see


@pytest.fixture(scope="module")
def org(stack: Any, fake: FakeLLMServer) -> Org:
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
        viewer = new_user(http, admin)
        add_fake_model(http, admin, fake)
        space = http.post("/api/v1/spaces/", json={"name": "Gatukontoret"}, headers=admin.headers).json()["id"]
        r = http.post(f"/api/v1/spaces/{space}/members/", json={"user_id": viewer.id, "role": "viewer"},
                      headers=admin.headers)
        assert r.status_code == 201, r.text
        group = http.post(f"/api/v1/spaces/{space}/knowledge/groups/", json={"name": "Befintlig"},
                          headers=admin.headers).json()["id"]
        r = http.post(f"/api/v1/spaces/{space}/applications/assistants/", headers=admin.headers,
                      json={"name": "Publicerad", "published": True})
        assert r.status_code == 201, r.text
        return Org(admin, viewer, space, group)


def wait_ready(screen: Screen, title: str) -> None:
    doc = screen.page.get_by_test_id("document").filter(has_text=title)
    doc.and_(screen.page.locator("[data-status=ready]")).wait_for(timeout=READY_TIMEOUT)
    assert doc.get_by_test_id("document-status").inner_text() == screen_text(screen, "Klar", "Ready")


def test_upload_follow_search_and_an_assistant_that_cites(screen_factory: Any, org: Org, fake: FakeLLMServer) -> None:
    screen = screen_factory(lang="sv-SE")
    page = screen.page
    screen.goto(f"/knowledge?space={org.space}")
    page.wait_for_url("**/login?next=*")
    sign_in(screen, org.editor.email)
    page.get_by_role("heading", name="Kunskap", exact=True).wait_for()
    assert page.get_by_role("navigation").get_by_role("link", name="Kunskap").get_attribute("aria-current") == "page"

    page.get_by_label("Ny samling").fill("Vinter")
    page.get_by_role("button", name="Skapa").click()
    page.get_by_role("heading", name="Vinter").wait_for()
    assert "group=" in page.url  # the collection is in the URL: reload and back show it

    # Two real documents through the file input (the keyboard's way), a third dropped on the area.
    page.get_by_label("Välj filer").set_input_files([str(DOCUMENTS / "riktlinjer.pdf"),
                                                     str(DOCUMENTS / "riktlinjer.docx")])
    dropped = page.evaluate_handle("""() => { const dt = new DataTransfer();
        dt.items.add(new File(['Sandning sker vid halka på gångbanor.'], 'sandning.txt', {type: 'text/plain'}));
        return dt; }""")
    page.get_by_test_id("drop-zone").dispatch_event("drop", {"dataTransfer": dropped})
    CONTENT.add("Sandning sker vid halka på gångbanor.")
    uploads = page.get_by_test_id("uploads").locator("li")
    uploads.nth(2).wait_for()
    for i in range(3):  # each file has its own progress bar, full once stored
        item = uploads.nth(i)
        item.and_(page.locator("[data-phase=stored]")).wait_for(timeout=30_000)
        bar = item.get_by_role("progressbar")
        assert bar.get_attribute("value") == bar.get_attribute("max")
    for title in ("riktlinjer.pdf", "riktlinjer.docx", "sandning.txt"):
        wait_ready(screen, title)
    # the collection's count in the side list follows, without a reload
    page.locator("ul.groups li").filter(has_text="Vinter").get_by_text("3 av 3 dokument klara").wait_for()
    screen.shots("knowledge")

    # A file the limits refuse is refused in words, before anything is sent.
    page.get_by_label("Välj filer").set_input_files([{"name": "program.exe", "mimeType": "application/x-msdownload",
                                                          "buffer": b"MZ not a document"}])
    refused = uploads.filter(has_text="program.exe")
    assert refused.get_attribute("data-phase") == "refused"
    assert "Filtypen stöds inte." in refused.inner_text()
    assert page.get_by_test_id("document").count() == 3

    page.get_by_label("Sökfråga").fill("När påbörjas röjningen?")
    CONTENT.add("När påbörjas röjningen?")
    page.get_by_role("button", name="Sök", exact=True).click()
    hits = page.get_by_test_id("hits")
    hits.wait_for()
    assert "fem" in hits.inner_text() and "centimeter" in hits.inner_text()  # the passage itself
    screen.shots("knowledge-search")

    # What a document's text became, passage by passage, for anyone who cannot find something in it.
    sandning = page.get_by_test_id("document").filter(has_text="sandning.txt")
    sandning.get_by_role("button", name="Visa texten i sandning.txt").click()
    text = page.get_by_test_id("document-text")
    text.get_by_role("heading", name="Texten i sandning.txt").wait_for()
    passage = text.get_by_test_id("chunk").first
    passage.wait_for()
    assert passage.inner_text().startswith("Avsnitt 1")
    assert "Sandning sker vid halka på gångbanor." in passage.inner_text()
    assert text.get_by_test_id("chunk").count() == 1  # a one-sentence file is one passage
    screen.axe("knowledge-text")
    screen.shot("knowledge-text")
    text.get_by_role("button", name="Stäng").click()
    assert sandning.get_by_role("button", name="Visa texten i sandning.txt").evaluate(
        "b => b === document.activeElement")  # the focus is back where it was

    # An assistant that answers from the collection, tried in the editor's test pane.
    page.get_by_role("navigation").get_by_role("link", name="Assistenter").click()
    page.get_by_role("heading", level=1, name="Assistenter").wait_for()
    page.get_by_label("Utrymme", exact=True).select_option(label="Gatukontoret")
    page.wait_for_url(f"**space={org.space}*")
    page.get_by_test_id("new-assistant").click()
    page.get_by_label("Namn", exact=True).fill("Vinterhjälpen")
    page.get_by_label("Instruktioner (systemprompt)").fill("Svara kort, med källor.")
    page.get_by_label("Längsta svar (token)").fill("200")
    page.get_by_label("Vinter", exact=True).check()
    page.get_by_role("button", name="Skapa assistenten").click()
    page.get_by_role("heading", name="Redigera Vinterhjälpen").wait_for()
    assert page.get_by_label("Vinter", exact=True).is_checked()
    assert page.get_by_label("Längsta svar (token)").input_value() == "200"

    # A second prompt version, then the first restored.
    page.get_by_label("Instruktioner (systemprompt)").fill("Svara utförligt.")
    page.get_by_text("Du har osparade ändringar").wait_for()
    page.get_by_role("button", name="Spara", exact=True).click()
    page.get_by_text("Tidigare versioner av instruktionerna").click()
    page.get_by_role("button", name="Återställ version 1").click()
    page.get_by_text("Version 1 används igen.").wait_for()
    assert page.get_by_label("Instruktioner (systemprompt)").input_value() == "Svara kort, med källor."

    sockets: list[str] = []  # the test pane's connections: one for all its answers
    page.on("websocket", lambda ws: sockets.append(ws.url))
    box = page.get_by_label("Din fråga")
    box.fill("När röjs cykelvägarna?")
    CONTENT.add("När röjs cykelvägarna?")
    box.press("Enter")
    answer = page.get_by_test_id("answer").last
    answer.and_(page.locator("[data-status=completed]")).wait_for(timeout=30_000)
    assert "Gång- och cykelvägar röjs först" in answer.inner_text()
    sent = fake.requests[-1].body
    assert sent["max_tokens"] == 200
    assert "Svara kort, med källor." in str(sent["messages"][0]["content"])
    answer.locator("button.cite").first.click()
    dialog = page.get_by_test_id("citation-dialog")
    dialog.get_by_role("heading", name="Källa 1: riktlinjer").wait_for()
    screen.shots("assistant-editor")
    dialog.get_by_role("button", name="Stäng").click()

    # The test pane asks with the form as it is, unsaved changes included, and saves nothing.
    page.get_by_label("Instruktioner (systemprompt)").fill("Svara på engelska, med källor.")
    page.get_by_label("Längsta svar (token)").fill("120")
    page.get_by_text("Du har osparade ändringar: testet använder dem").wait_for()
    box.fill("Och gångbanorna?")
    CONTENT.add("Och gångbanorna?")
    box.press("Enter")
    answer = page.get_by_test_id("answer").nth(1)
    answer.and_(page.locator("[data-status=completed]")).wait_for(timeout=30_000)
    sent = fake.requests[-1].body
    assert sent["max_tokens"] == 120
    assert str(sent["messages"][0]["content"]).startswith("Svara på engelska, med källor.")
    assert len(sockets) == 1, sockets  # the second answer reused the pane's WebSocket
    screen.shots("assistant-editor-draft")
    page.reload()
    page.get_by_role("heading", name="Redigera Vinterhjälpen").wait_for()
    assert page.get_by_label("Instruktioner (systemprompt)").input_value() == "Svara kort, med källor."
    assert page.get_by_label("Längsta svar (token)").input_value() == "200"


@pytest.mark.parametrize("lang,scheme", [("en-GB", "dark"), ("sv-SE", "light")])
def test_a_viewer_sees_no_edit_controls(screen_factory: Any, org: Org, lang: str, scheme: str) -> None:
    screen = screen_factory(lang=lang, scheme=scheme, width=390)  # and at phone width
    page = screen.page
    screen.goto(f"/knowledge?space={org.space}&group={org.group}")
    sign_in(screen, org.viewer.email)
    page.get_by_role("heading", name="Befintlig").wait_for()
    page.get_by_test_id("read-only").wait_for()
    for sv, en in (("Välj filer", "Choose files"), ("Ny samling", "New collection")):
        assert page.get_by_label(screen_text(screen, sv, en)).count() == 0
    assert page.get_by_role("button", name=screen_text(screen, "Byt namn", "Rename")).count() == 0
    assert page.get_by_label(screen_text(screen, "Sökfråga", "Query")).is_visible()  # reading and searching stay
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    if screen.lang == "sv":  # one parameter photographs all four
        screen.shots("knowledge-viewer")
    else:
        screen.axe("knowledge-viewer")

    nav = page.get_by_role("navigation")
    nav.get_by_role("link", name=screen_text(screen, "Assistenter", "Assistants")).click()
    page.get_by_role("heading", level=1, name=screen_text(screen, "Assistenter", "Assistants")).wait_for()
    page.get_by_label(screen_text(screen, "Utrymme", "Space"), exact=True).select_option(label="Gatukontoret")
    chat = page.get_by_role("link", name=screen_text(screen, "Chatta med Publicerad", "Chat with Publicerad"))
    chat.wait_for()
    page.get_by_test_id("read-only").wait_for()
    assert page.get_by_test_id("new-assistant").count() == 0
    assert page.get_by_label(screen_text(screen, "Namn", "Name"), exact=True).count() == 0
    if screen.lang == "sv":  # one parameter photographs all four
        screen.shots("assistants-viewer")
    else:
        screen.axe("assistants-viewer")
