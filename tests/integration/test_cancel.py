"""Stop generating: `POST /api/v1/questions/{id}/cancel/` against a slow fake model, through the sessions function
and the `complete` use case (answer_question, run as a task as in test_sessions).

What a user notices: the answer stops growing at once, the text they saw stays as the answer, marked stopped,
and the model is no longer asked for tokens nobody reads (its stream is closed).
"""

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from eneo.answers.service import answer_question
from eneo.answers.stream import AnswerStream
from eneo.core.redis import get_redis
from eneo.core.settings import get_settings
from eneo.sessions.api import get_invoker
from eneo.users.models import UserRole
from tests.fakes.llm_server import FakeLLMServer
from tests.integration.conftest import FunctionApps, Org
from tests.integration.test_sessions import Chat, _json, make_chat, read_sse

TOKENS = 60
DELAY = 0.1  # seconds between tokens: the whole answer would take 6 s


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(token_count=TOKENS, delay=DELAY) as server:
        yield server


@pytest.fixture
async def chat(client: httpx.AsyncClient, make_user: Any, fake: FakeLLMServer) -> Chat:
    fake.reset()
    admin = await make_user()
    return await make_chat(client, admin, await make_user(Org(admin.tenant_id, ""), UserRole.user), fake)


@pytest.fixture
def answering(function_apps: FunctionApps) -> Iterator[list[asyncio.Task[bool]]]:
    """Streamed questions are answered as `complete` would, in a task of this loop."""
    tasks: list[asyncio.Task[bool]] = []

    def invoke(tenant_id: uuid.UUID, question_id: uuid.UUID) -> None:
        tasks.append(asyncio.get_running_loop().create_task(answer_question(tenant_id, question_id)))

    function_apps["SessionsFunction"].dependency_overrides[get_invoker] = lambda: invoke
    yield tasks
    for task in tasks:
        task.cancel()


async def _ask(client: httpx.AsyncClient, chat: Chat, question: str = "Berätta långt") -> str:
    asked = await _json(await client.post(chat.sessions, json={"question": question, "stream": True},
                                          headers=chat.admin.headers), 202)
    return str(asked["question"]["id"])


async def _text_entries(qid: str, at_least: int, within: float = 10.0) -> int:
    """Wait until the answer's stream holds `at_least` text entries; how many it holds."""
    stream = AnswerStream(get_redis(), qid, get_settings().answer_stream_ttl_seconds)
    give_up = time.monotonic() + within
    while time.monotonic() < give_up:
        count = sum(1 for e in await stream.read() if e.type == "text")
        if count >= at_least:
            return count
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {at_least} text entries within {within} s")


def _cancel_url(qid: str) -> str:
    return f"/api/v1/questions/{qid}/cancel/"


async def test_a_stopped_answer_keeps_the_text_that_streamed_and_closes_the_providers_stream(
        client: httpx.AsyncClient, chat: Chat, fake: FakeLLMServer, answering: list[asyncio.Task[bool]]) -> None:
    qid = await _ask(client, chat)
    await _text_entries(qid, 5)
    cancel_sent = time.time()
    stopped = await _json(await client.post(_cancel_url(qid), headers=chat.admin.headers), 200)
    answered = time.time() - cancel_sent

    assert stopped["status"] == "cancelled" and stopped["partial"] is True
    assert stopped["error"]["code"] == "answer_cancelled"
    full = "".join(fake.expected_tokens())
    assert stopped["answer"] and full.startswith(stopped["answer"]) and stopped["answer"] != full

    events = [e async for e in read_sse(client, chat.admin, qid)]
    kinds = [kind for _, kind, _ in events]
    assert kinds[0] == "first_chunk" and set(kinds[1:-1]) == {"text"} and kinds[-1] == "error"
    assert events[-1][2]["code"] == "answer_cancelled" and events[-1][2]["partial"] is True
    streamed = "".join(data["text"] for _, kind, data in events if kind == "text")
    assert streamed == stopped["answer"], "the saved answer is exactly what followers were sent"
    end_ms = int(events[-1][0].split("-")[0])
    print(f"cancel -> terminal entry {end_ms / 1000 - cancel_sent:.3f} s; cancel request answered in {answered:.3f} s")
    assert end_ms / 1000 - cancel_sent < 2.0, "the stream ends promptly after the cancel"

    assert await asyncio.wait_for(answering[0], 5) is True
    request = fake.requests[-1]
    assert request.left_at is not None, "the provider's stream was closed by the client"
    sent_then = len(request.sent)
    await asyncio.sleep(4 * DELAY)
    assert len(request.sent) == sent_then < TOKENS, "no tokens were generated after the stop"
    saved = await _json(await client.get(f"/api/v1/questions/{qid}/", headers=chat.admin.headers), 200)
    assert saved["status"] == "cancelled" and saved["answer"] == streamed
    assert saved["usage"]["output_tokens"] > 0, "the tokens generated until the stop are counted (estimated)"


async def test_cancelling_again_is_harmless_and_a_finished_answer_cannot_be_cancelled(
        client: httpx.AsyncClient, chat: Chat, fake: FakeLLMServer, answering: list[asyncio.Task[bool]]) -> None:
    qid = await _ask(client, chat)
    await _text_entries(qid, 2)
    first = await _json(await client.post(_cancel_url(qid), headers=chat.admin.headers), 200)
    again = await _json(await client.post(_cancel_url(qid), headers=chat.admin.headers), 200)
    assert again == first

    fake.delay = 0.0
    try:
        done_id = await _ask(client, chat, "Kort")
        await asyncio.wait_for(answering[-1], 10)
    finally:
        fake.delay = DELAY
    r = await client.post(_cancel_url(done_id), headers=chat.admin.headers)
    assert r.status_code == 409 and r.json()["code"] == "question_finished"
    saved = await _json(await client.get(f"/api/v1/questions/{done_id}/", headers=chat.admin.headers), 200)
    assert saved["status"] == "completed"


async def test_only_the_asker_can_stop_an_answer(client: httpx.AsyncClient, chat: Chat, make_user: Any,
                                                 fake: FakeLLMServer, answering: list[asyncio.Task[bool]]) -> None:
    qid = await _ask(client, chat)
    await _text_entries(qid, 1)
    stranger = await make_user()  # another tenant's admin
    for who in (chat.viewer, stranger):  # the same tenant's user, another tenant's admin
        r = await client.post(_cancel_url(qid), headers=who.headers)
        assert r.status_code == 404 and r.json()["code"] == "not_found", r.text
    r = await client.post(_cancel_url(str(uuid.uuid4())), headers=chat.admin.headers)
    assert r.status_code == 404
    assert await asyncio.wait_for(answering[0], 15) is True
    saved = await _json(await client.get(f"/api/v1/questions/{qid}/", headers=chat.admin.headers), 200)
    assert saved["status"] == "completed" and saved["answer"] == "".join(fake.expected_tokens())


async def test_a_cancel_before_complete_starts_ends_the_question(
        client: httpx.AsyncClient, chat: Chat, fake: FakeLLMServer, function_apps: FunctionApps) -> None:
    function_apps["SessionsFunction"].dependency_overrides[get_invoker] = lambda: lambda tenant, question: None
    qid = await _ask(client, chat)
    stopped = await _json(await client.post(_cancel_url(qid), headers=chat.admin.headers), 200)
    assert stopped["status"] == "cancelled" and stopped["partial"] is False and stopped["answer"] == ""
    events = [(kind, data["code"]) async for _, kind, data in read_sse(client, chat.admin, qid)]
    assert events == [("error", "answer_cancelled")]
    # The invoke arrives late: there is nothing left to answer.
    assert await answer_question(chat.admin.tenant_id, uuid.UUID(qid)) is False
    assert fake.requests == []


async def test_a_cancel_while_waiting_for_the_first_token_is_noticed_without_any_write(
        client: httpx.AsyncClient, chat: Chat, fake: FakeLLMServer, answering: list[asyncio.Task[bool]]) -> None:
    """The provider is silent (a long prompt, a busy server): nothing is written, the watcher notices alone."""
    fake.stall_after(0, 30)
    qid = await _ask(client, chat)
    give_up = time.monotonic() + 10
    while not fake.requests and time.monotonic() < give_up:  # noqa: ASYNC110 (the fake runs in a thread)
        await asyncio.sleep(0.02)
    started = time.monotonic()
    stopped = await _json(await client.post(_cancel_url(qid), headers=chat.admin.headers), 200)
    assert time.monotonic() - started < 3.0
    assert stopped["status"] == "cancelled" and stopped["answer"] == "" and stopped["partial"] is False
    assert await asyncio.wait_for(answering[0], 5) is True
    assert fake.requests[-1].left_at is not None and fake.requests[-1].sent == []


async def test_a_follow_up_after_a_stop_gives_the_model_the_text_the_asker_read(
        client: httpx.AsyncClient, chat: Chat, fake: FakeLLMServer, answering: list[asyncio.Task[bool]]) -> None:
    asked = await _json(await client.post(chat.sessions, json={"question": "Först", "stream": True},
                                          headers=chat.admin.headers), 202)
    qid = asked["question"]["id"]
    await _text_entries(qid, 2)
    stopped = await _json(await client.post(_cancel_url(qid), headers=chat.admin.headers), 200)
    fake.delay = 0.0
    try:
        await _json(await client.post(f"{chat.sessions}{asked['session_id']}/", json={"question": "Och sen?"},
                                      headers=chat.admin.headers), 200)
    finally:
        fake.delay = DELAY
    roles = [(m["role"], m["content"]) for m in fake.requests[-1].body["messages"]]
    assert roles[1:] == [("user", "Först"), ("assistant", stopped["answer"]), ("user", "Och sen?")]
