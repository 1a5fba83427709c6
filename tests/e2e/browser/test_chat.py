"""A staff member's first use, in a real browser: sign in (and the errors), ask an assistant, read the
answer as it streams, open a citation, survive a dropped WebSocket and a WebSocket that never connects
(SSE), a failed answer and its retry, a stopped answer, Swedish and English, light and dark, keyboard only, phone width.

The answer comes from the fake OpenAI-compatible server (tests/fakes/llm_server.py) with a known text that
cites source [1], the one document of the assistant's collection.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.actors import CONTENT, PASSWORD, Actor, add_fake_model, new_tenant, new_user
from tests.e2e.browser.conftest import Screen
from tests.fakes.llm_server import FakeLLMServer

pytestmark = pytest.mark.e2e

TOKENS = ["Enligt ", "riktlinjerna ", "[1] ", "plogas ", "gång- ", "och ", "cykelbanor ", "först.\n\n",
          "```text\n", "snöjour 06:00\n", "```\n\n", *[f"ord{i} " for i in range(24)], "**Slut**."]
ANSWER_TEXT = "".join(TOKENS)
DOCUMENT = ("Riktlinjer för vinterväghållning. Gång- och cykelbanor plogas först, före bilvägarna, när det har "
            "fallit mer än fem centimeter snö. Snöjouren börjar klockan sex på morgonen.\n")
CONTENT.update([ANSWER_TEXT, DOCUMENT])


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(tokens=TOKENS, delay=0.04) as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_fake(fake: FakeLLMServer) -> None:
    fake.reset()
    fake.delay = 0.04


@dataclass
class Org:
    admin: Actor
    user: Actor
    assistant: str
    assistant_name: str
    space: str
    group: str


@pytest.fixture(scope="module")
def org(stack: Any, fake: FakeLLMServer) -> Org:
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
        user = new_user(http, admin)
        add_fake_model(http, admin, fake)
        space = http.post("/api/v1/spaces/", json={"name": "Gatukontoret"}, headers=admin.headers).json()["id"]
        r = http.post(f"/api/v1/spaces/{space}/members/", json={"user_id": user.id, "role": "viewer"},
                      headers=admin.headers)
        assert r.status_code == 201, r.text
        group = http.post(f"/api/v1/spaces/{space}/knowledge/groups/", json={"name": "Vinter"},
                          headers=admin.headers).json()["id"]
        blob = http.post(f"/api/v1/groups/{group}/info-blobs/upload/", headers=admin.headers,
                         files={"file": ("vinter.txt", DOCUMENT.encode(), "text/plain")}).json()["id"]
        deadline = time.monotonic() + 90
        while (status := http.get(f"/api/v1/info-blobs/{blob}/", headers=admin.headers).json()["status"]) != "ready":
            assert status != "failed" and time.monotonic() < deadline, status
            time.sleep(0.25)
        name = "Vinterassistenten"
        r = http.post(f"/api/v1/spaces/{space}/applications/assistants/", headers=admin.headers, json={
            "name": name, "system_prompt": "Svara med källor.", "published": True, "groups": [group]})
        assert r.status_code == 201, r.text
        return Org(admin, user, r.json()["id"], name, space, group)


def sign_in(screen: Screen, email: str, password: str = PASSWORD) -> None:
    page = screen.page
    page.get_by_label(screen_text(screen, "E-postadress", "E-mail address")).fill(email)
    page.get_by_label(screen_text(screen, "Lösenord", "Password")).fill(password)
    page.get_by_role("button", name=screen_text(screen, "Logga in", "Sign in")).click()


def screen_text(screen: Screen, sv: str, en: str) -> str:
    return sv if screen.lang == "sv" else en


def ask(screen: Screen, question: str) -> Any:
    """Type and send a question; the locator of its answer."""
    CONTENT.add(question)
    page = screen.page
    box = page.get_by_label(screen_text(screen, "Din fråga", "Your question"))
    box.fill(question)
    box.press("Enter")
    return page.get_by_test_id("answer").last


def answer_text(answer: Any) -> str:
    return str(answer.get_by_test_id("answer-body").inner_text())


def expected_visible_text() -> str:
    """The answer as the browser shows it: the markdown rendered, the citation [1] a chip reading 1."""
    return "Enligt riktlinjerna 1 plogas gång- och cykelbanor först."


def wait_done(answer: Any, timeout: float = 20_000) -> None:
    answer.and_(answer.page.locator("[data-status=completed]")).wait_for(timeout=timeout)


def test_sign_in_errors_then_the_chat(screen_factory: Any, org: Org) -> None:
    screen = screen_factory(lang="sv-SE")
    page = screen.page
    screen.goto("/")  # not signed in: to sign-in, and back here after it
    page.wait_for_url("**/login?next=%2F*")
    page.get_by_role("heading", name="Logga in").wait_for()
    screen.shots("sign-in")
    sign_in(screen, org.user.email, "not the password")
    error = page.get_by_test_id("login-error")
    assert error.inner_text().strip() == "Fel e-postadress eller lösenord."
    assert error.get_attribute("data-code") == "invalid_credentials"
    screen.shots("sign-in-error")
    sign_in(screen, org.user.email)
    page.wait_for_url(f"{screen.base_url}/")
    page.get_by_label("Assistent").wait_for()
    assert page.get_by_label("Assistent").locator("option:checked").inner_text() == org.assistant_name
    screen.shots("chat-empty")


def test_ask_streams_cites_and_rates(screen_factory: Any, org: Org) -> None:
    screen = screen_factory(lang="sv-SE")
    page = screen.page
    screen.goto("/login")
    sign_in(screen, org.user.email)
    page.get_by_label("Din fråga").wait_for()

    answer = ask(screen, "När plogas cykelbanorna?")
    # Tokens arrive before the answer is complete: some text shows while it still streams.
    page.wait_for_function(
        """() => { const a = [...document.querySelectorAll('[data-testid=answer]')].pop();
                   return a && a.dataset.status === 'streaming' && a.innerText.includes('plogas'); }""", timeout=15_000)
    assert answer.get_attribute("data-status") == "streaming"
    wait_done(answer)
    assert expected_visible_text() in answer_text(answer)
    assert answer_text(answer).rstrip().endswith("ord23 Slut.")
    assert answer.locator("pre code").inner_text().strip() == "snöjour 06:00"  # the code block
    assert answer.locator("strong").inner_text() == "Slut"

    # The citation chip in the text opens the cited source.
    answer.locator("button.cite").first.click()
    dialog = page.get_by_test_id("citation-dialog")
    dialog.get_by_role("heading", name="Källa 1: vinter.txt").wait_for()
    # the cited passage itself, read when opened, and a link to its document in its collection
    assert "Gång- och cykelbanor plogas först" in dialog.get_by_test_id("passage-text").inner_text()
    link = dialog.get_by_role("link", name="Visa dokumentet")
    assert link.get_attribute("href") == f"/knowledge?space={org.space}&group={org.group}"
    screen.shots("citation")
    dialog.get_by_role("button", name="Stäng").click()
    assert answer.get_by_test_id("source-chip").count() == 1

    # Thumbs up with a comment is saved.
    answer.get_by_role("button", name="Bra svar").click()
    answer.get_by_label("Kommentar (valfri)").fill("Tydligt")
    answer.get_by_role("button", name="Skicka omdöme").click()
    answer.get_by_text("Tack för ditt omdöme.").wait_for()
    screen.shots("chat-answered")

    # Reload: the conversation is in the URL and in the history, with its rating.
    page.reload()
    restored = page.get_by_test_id("answer").last
    wait_done(restored)
    assert expected_visible_text() in answer_text(restored)
    assert restored.get_by_role("button", name="Bra svar").get_attribute("aria-pressed") == "true"
    history = page.get_by_role("complementary")
    assert history.get_by_role("link", name="När plogas cykelbanorna?").get_attribute("aria-current") == "page"


def test_a_dropped_websocket_resumes_without_gap_or_repeat(screen_factory: Any, org: Org) -> None:
    screen = screen_factory(lang="sv-SE")
    page = screen.page
    state = {"connections": 0, "relayed": 0}

    def drop_first_mid_answer(ws: Any) -> None:
        state["connections"] += 1
        server = ws.connect_to_server()
        first = state["connections"] == 1

        def to_client(message: Any) -> None:
            if first and state["relayed"] >= 6:
                return  # dropped: a frame the server sent meanwhile never reaches the page
            ws.send(message)
            if first and json.loads(message).get("type") == "text":
                state["relayed"] += 1
                if state["relayed"] == 6:
                    ws.close()  # the browser sees the connection drop mid-answer
                    server.close()

        server.on_message(to_client)

    screen.goto("/login")
    sign_in(screen, org.user.email)
    page.get_by_label("Din fråga").wait_for()
    page.route_web_socket("**/live**", drop_first_mid_answer)
    answer = ask(screen, "Vad gäller för cykelbanor i vinter?")
    wait_done(answer)
    assert state["relayed"] == 6 and state["connections"] >= 2, state
    text = answer_text(answer)
    assert expected_visible_text() in text
    assert " ".join(f"ord{i}" for i in range(24)) in " ".join(text.split())  # every word once, in order
    assert text.count("ord5 ") == 1


def test_without_websocket_the_answer_comes_over_sse(screen_factory: Any, org: Org) -> None:
    screen = screen_factory(lang="en-GB")
    page = screen.page
    page.route_web_socket("**/live**", lambda ws: ws.close())  # a proxy that refuses WebSockets
    screen.goto("/login")
    sign_in(screen, org.user.email)
    answer = ask(screen, "When are cycle paths cleared?")
    wait_done(answer, timeout=30_000)
    assert expected_visible_text() in answer_text(answer)


def test_failed_answer_says_why_and_retries(screen_factory: Any, org: Org, fake: FakeLLMServer) -> None:
    screen = screen_factory(lang="en-GB", scheme="dark")
    page = screen.page
    screen.goto("/login")
    page.get_by_role("heading", name="Sign in").wait_for()
    screen.axe("sign-in")
    sign_in(screen, org.user.email)
    fake.fail(status=400)  # not retried by `complete`: the answer fails at once
    answer = ask(screen, "Tell me about snow.")
    error = answer.get_by_test_id("answer-error")
    error.wait_for()
    assert "The answer failed: the model service refused the question" in error.inner_text()
    screen.shots("chat-failed")
    error.get_by_role("button", name="Try again").click()
    retried = page.get_by_test_id("answer").nth(1)
    wait_done(retried)
    assert expected_visible_text() in answer_text(retried)
    screen.shot("chat-answered")
    retried.get_by_role("button", name="Regenerate").click()  # the last answer can be asked for again
    again = page.get_by_test_id("answer").nth(2)
    wait_done(again)
    assert expected_visible_text() in answer_text(again)
    assert page.get_by_test_id("answer").first.get_by_role("button", name="Regenerate").count() == 0


def test_stop_an_answer_keeps_the_text_so_far_marked_stopped(screen_factory: Any, org: Org,
                                                              fake: FakeLLMServer) -> None:
    """Stop generating, from the keyboard: the answer stops growing, keeps what arrived, says it was stopped
    (also after a reload, from the saved question), and the model's stream is closed."""
    screen = screen_factory(lang="sv-SE")
    page = screen.page
    screen.goto("/login")
    sign_in(screen, org.user.email)
    fake.delay = 0.3  # the whole answer would take ~11 s
    answer = ask(screen, "Hur plogar ni?")
    answer.get_by_test_id("answer-body").get_by_text("plogas").wait_for(timeout=20_000)  # a few tokens are in
    stop = page.get_by_role("button", name="Stoppa svaret")
    stop.focus()
    page.keyboard.press("Enter")
    answer.and_(page.locator("[data-status=stopped]")).wait_for(timeout=10_000)
    assert "Du stoppade svaret" in answer.get_by_test_id("answer-stopped").inner_text()
    shown = answer_text(answer)
    assert shown.startswith("Enligt riktlinjerna") and "Slut" not in shown
    assert page.get_by_role("button", name="Stoppa svaret").count() == 0  # Send is back
    screen.shots("chat-stopped")
    time.sleep(1.0)
    assert answer_text(answer) == shown, "nothing arrives after the stop"
    assert fake.requests[-1].left_at is not None, "the model's stream was closed"

    page.reload()
    reloaded = page.get_by_test_id("answer").last
    reloaded.and_(page.locator("[data-status=stopped]")).wait_for(timeout=10_000)
    assert answer_text(reloaded) == shown


def test_language_switch_and_phone_width(screen_factory: Any, org: Org) -> None:
    screen = screen_factory(lang="sv-SE", width=390)
    page = screen.page
    screen.goto("/login")
    page.get_by_role("heading", name="Logga in").wait_for()
    page.get_by_label("Språk").select_option("en")
    page.get_by_role("heading", name="Sign in").wait_for()
    assert page.evaluate("document.documentElement.lang") == "en"
    screen.lang = "en"
    sign_in(screen, org.user.email)
    page.get_by_label("Your question").wait_for()  # the choice is kept after signing in
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling
    screen.axe("chat (phone)")
    screen.shot("chat-phone")


def test_keyboard_only_sign_in_ask_read(screen_factory: Any, org: Org) -> None:
    screen = screen_factory(lang="sv-SE")
    page = screen.page
    screen.goto("/login")
    page.get_by_role("heading", name="Logga in").wait_for()

    def tab_to(element_id: str, limit: int = 25) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
                # focus is visible: the outline the stylesheet gives :focus-visible
                outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
                assert outline not in ("none", ""), f"#{element_id} has no visible focus"
                return
        pytest.fail(f"Tab never reached #{element_id}")

    tab_to("email")
    page.keyboard.type(org.user.email)
    tab_to("password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{screen.base_url}/")
    page.get_by_label("Din fråga").wait_for()
    # Past the history (two tab stops per conversation) with the chat's own skip link, as a keyboard user would.
    skip = page.get_by_role("link", name="Hoppa till frågan")
    for _ in range(25):
        page.keyboard.press("Tab")
        if skip.evaluate("link => link === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the link to the question")
    assert skip.is_visible()  # shown while it has the focus
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "question"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") not in ("none", "")
    question = f"Vad gäller i vinter, ärende {uuid.uuid4().hex[:6]}?"
    CONTENT.add(question)
    page.keyboard.type(question)
    page.keyboard.press("Enter")
    answer = page.get_by_test_id("answer").last
    wait_done(answer)
    assert expected_visible_text() in answer_text(answer)
    # The answer region announces the whole answer once it is complete.
    body = answer.get_by_test_id("answer-body")
    assert (body.get_attribute("aria-live"), body.get_attribute("aria-busy")) == ("polite", "false")
