"""Sessions through the sessions function, answered by the real SDKs against the fake provider.

`stream: false` answers in the response; `stream: true` answers 202 and the answer arrives on the
Redis stream, read here over the SSE endpoint. Where production invokes `complete` through Lambda,
these tests run the same use case (`answer_question`) as a task: the invoke is the only thing
swapped (the local-stack tests cover the real invoke).
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from eneo.answers.recovery import resume_answers
from eneo.answers.service import DEADLINE_MARGIN, answer_question
from eneo.answers.stream import AnswerStream, stream_key
from eneo.core.crypto import aad_for, encrypt_secret
from eneo.core.db import UnitOfWork
from eneo.core.ids import utcnow
from eneo.core.redis import get_redis
from eneo.core.settings import get_settings
from eneo.model_providers.models import ModelProvider
from eneo.sessions.api import get_invoker
from eneo.sessions.models import Question
from eneo.users.models import UserRole
from tests.fakes.llm_server import FakeLLMServer
from tests.integration.conftest import FunctionApps, Member, Org


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(token_count=8) as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_fake(fake: FakeLLMServer) -> None:
    fake.reset()
    fake.delay = 0.0


@dataclass
class Chat:
    admin: Member
    viewer: Member
    space: str
    model: str
    assistant: str

    @property
    def sessions(self) -> str:
        return f"/api/v1/assistants/{self.assistant}/sessions/"


async def _json(r: httpx.Response, status: int) -> Any:
    assert r.status_code == status, r.text
    return r.json()


async def make_chat(client: httpx.AsyncClient, admin: Member, viewer: Member, fake: FakeLLMServer, *,
                    context_window: int = 4096, system_prompt: str = "Du svarar kort.",
                    provider_type: str = "openai") -> Chat:
    provider_body: dict[str, Any] = {"name": f"p-{uuid.uuid4().hex[:6]}", "type": provider_type,
                                     "api_key": fake.api_key}
    if provider_type == "azure":
        provider_body |= {"endpoint": fake.azure_endpoint, "api_version": "2024-10-21"}
    elif provider_type == "anthropic":
        provider_body |= {"base_url": fake.anthropic_url}
    else:
        provider_body |= {"base_url": fake.openai_url}
    provider = await _json(await client.post("/api/v1/admin/model-providers/", json=provider_body,
                                             headers=admin.headers), 201)
    model = await _json(await client.post("/api/v1/completion-models/", headers=admin.headers, json={
        "provider_id": provider["id"], "name": "gpt-fake", "context_window": context_window}), 201)
    space = await _json(await client.post("/api/v1/spaces/", json={"name": "Chat"}, headers=admin.headers), 201)
    await _json(await client.post(f"/api/v1/spaces/{space['id']}/members/", headers=admin.headers,
                                  json={"user_id": str(viewer.id), "role": "viewer"}), 201)
    assistant = await _json(await client.post(
        f"/api/v1/spaces/{space['id']}/applications/assistants/", headers=admin.headers,
        json={"name": "Helper", "system_prompt": system_prompt, "completion_model_id": model["id"],
              "published": True, "model_kwargs": {"max_tokens": 100}}), 201)
    return Chat(admin, viewer, space["id"], model["id"], assistant["id"])


@pytest.fixture
async def chat(client: httpx.AsyncClient, make_user, fake: FakeLLMServer) -> Chat:
    admin = await make_user()
    viewer = await make_user(Org(admin.tenant_id, ""), UserRole.user)
    return await make_chat(client, admin, viewer, fake)


@pytest.fixture
def streamed(function_apps: FunctionApps) -> Iterator[list[asyncio.Task[bool]]]:
    """Streamed questions are answered as `complete` would, in a task of this loop."""
    tasks: list[asyncio.Task[bool]] = []

    def invoke(tenant_id: uuid.UUID, question_id: uuid.UUID) -> None:
        tasks.append(asyncio.get_running_loop().create_task(answer_question(tenant_id, question_id)))

    function_apps["SessionsFunction"].dependency_overrides[get_invoker] = lambda: invoke
    yield tasks


async def read_sse(client: httpx.AsyncClient, who: Member, question_id: str,
                   last_id: str | None = None) -> AsyncIterator[tuple[str, str, dict[str, Any]]]:
    """Poll the SSE endpoint as an EventSource does (reconnecting with Last-Event-ID) until 204."""
    import json

    for _ in range(100):
        headers = dict(who.headers) | ({"Last-Event-ID": last_id} if last_id else {})
        r = await client.get(f"/api/v1/questions/{question_id}/stream", headers=headers)
        if r.status_code == 204:
            return
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/event-stream")
        for block in r.text.split("\n\n"):
            fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != ":")
            if "id" in fields:
                last_id = fields["id"]
                yield fields["id"], fields["event"], json.loads(fields["data"])
    raise AssertionError("the stream never ended")


async def test_a_question_is_answered_in_the_response_with_usage(client: httpx.AsyncClient, chat: Chat,
                                                                 fake: FakeLLMServer) -> None:
    asked = await _json(await client.post(chat.sessions, json={"question": "Hur söker jag bygglov?"},
                                          headers=chat.admin.headers), 201)
    question = asked["question"]
    assert question["status"] == "completed"
    assert question["answer"] == "".join(fake.expected_tokens())
    assert question["usage"]["output_tokens"] == len(fake.expected_tokens())
    sent = fake.requests[-1].body
    assert sent["messages"][0] == {"role": "system", "content": "Du svarar kort."}
    assert sent["messages"][-1] == {"role": "user", "content": "Hur söker jag bygglov?"}
    assert sent["max_completion_tokens"] == 100  # the assistant's setting, in OpenAI's current field

    session = await _json(await client.get(f"{chat.sessions}{asked['session_id']}/", headers=chat.admin.headers), 200)
    assert session["name"] == "Hur söker jag bygglov?"
    assert [q["answer"] for q in session["questions"]] == [question["answer"]]


async def test_a_follow_up_sends_the_history(client: httpx.AsyncClient, chat: Chat, fake: FakeLLMServer) -> None:
    first = await _json(await client.post(chat.sessions, json={"question": "Första frågan"},
                                          headers=chat.admin.headers), 201)
    follow = await _json(await client.post(f"{chat.sessions}{first['session_id']}/", json={"question": "Och sen?"},
                                           headers=chat.admin.headers), 200)
    assert follow["session_id"] == first["session_id"]
    roles = [(m["role"], m["content"]) for m in fake.requests[-1].body["messages"]]
    assert roles == [("system", "Du svarar kort."), ("user", "Första frågan"),
                     ("assistant", first["question"]["answer"]), ("user", "Och sen?")]


async def test_history_is_trimmed_oldest_first_to_fit_the_context_window(
        client: httpx.AsyncClient, make_user, fake: FakeLLMServer) -> None:
    admin = await make_user()
    viewer = await make_user(Org(admin.tenant_id, ""), UserRole.user)
    chat = await make_chat(client, admin, viewer, fake, context_window=400)
    # Each turn is ~60 estimated tokens; with 100 kept for the answer, only the newest turns fit.
    session_id = None
    for i in range(6):
        body = {"question": f"fråga {i} " + "ord " * 40}
        url = chat.sessions if session_id is None else f"{chat.sessions}{session_id}/"
        r = await client.post(url, json=body, headers=admin.headers)
        assert r.status_code in (200, 201), r.text
        session_id = r.json()["session_id"]
    users = [m["content"] for m in fake.requests[-1].body["messages"] if m["role"] == "user"]
    assert users[-1].startswith("fråga 5")
    assert not any(u.startswith("fråga 0") for u in users), "the oldest turn should have been dropped"
    kept = [int(u.split()[1]) for u in users]
    assert kept == sorted(kept) and kept == list(range(kept[0], 6)), "kept turns are the newest, in order"


async def test_a_streamed_answer_arrives_over_sse_once_and_in_order(
        client: httpx.AsyncClient, chat: Chat, fake: FakeLLMServer, streamed: list[asyncio.Task[bool]]) -> None:
    r = await client.post(chat.sessions, json={"question": "Strömma", "stream": True}, headers=chat.admin.headers)
    asked = await _json(r, 202)
    qid = asked["question"]["id"]
    assert asked["question"]["status"] == "queued"
    assert asked["stream"]["websocket"] == {"action": "subscribe", "question_id": qid}
    events = [e async for e in read_sse(client, chat.admin, qid)]
    kinds = [kind for _, kind, _ in events]
    assert kinds[0] == "first_chunk" and kinds[-1] == "done" and set(kinds[1:-1]) == {"text"}
    assert "".join(d["text"] for _, k, d in events if k == "text") == "".join(fake.expected_tokens())
    assert events[-1][2]["usage"]["output_tokens"] == len(fake.expected_tokens())
    ids = [i for i, _, _ in events]
    assert len(set(ids)) == len(ids)

    # Resuming from the first entry gives exactly the rest.
    resumed = [e async for e in read_sse(client, chat.admin, qid, last_id=ids[0])]
    assert resumed == events[1:]
    question = await _json(await client.get(f"/api/v1/questions/{qid}/", headers=chat.admin.headers), 200)
    assert question["status"] == "completed" and question["answer"] == "".join(fake.expected_tokens())


async def test_a_provider_failure_mid_stream_keeps_the_partial_answer(
        client: httpx.AsyncClient, chat: Chat, fake: FakeLLMServer, streamed: list[asyncio.Task[bool]]) -> None:
    fake.delay = 0.02  # so the SDK hands over the first tokens before the connection drops
    fake.drop_after(3)
    asked = await _json(await client.post(chat.sessions, json={"question": "Avbryt", "stream": True},
                                          headers=chat.admin.headers), 202)
    qid = asked["question"]["id"]
    events = [e async for e in read_sse(client, chat.admin, qid)]
    assert events[-1][1] == "error"
    assert events[-1][2]["code"] == "provider_stream_interrupted" and events[-1][2]["partial"] is True
    partial = "".join(d["text"] for _, k, d in events if k == "text")
    assert partial == "".join(fake.expected_tokens()[:3])
    question = await _json(await client.get(f"/api/v1/questions/{qid}/", headers=chat.admin.headers), 200)
    assert question["status"] == "failed" and question["partial"] is True
    assert question["answer"] == partial and question["error"]["code"] == "provider_stream_interrupted"
    assert len(fake.requests) == 1, "a stream that broke after tokens is not retried"


async def test_an_outage_answers_502_and_saves_the_question_as_failed(client: httpx.AsyncClient, chat: Chat,
                                                                      fake: FakeLLMServer) -> None:
    fake.fail(status=503, times=5)
    r = await client.post(chat.sessions, json={"question": "Någon där?"}, headers=chat.admin.headers)
    assert r.status_code == 502, r.text
    assert r.json()["code"] == "provider_unavailable"
    sessions = await _json(await client.get(chat.sessions, headers=chat.admin.headers), 200)
    detail = await _json(await client.get(f"{chat.sessions}{sessions['items'][0]['id']}/",
                                          headers=chat.admin.headers), 200)
    assert [(q["status"], q["partial"]) for q in detail["questions"]] == [("failed", False)]


async def test_a_rate_limit_is_retried_before_the_first_token(client: httpx.AsyncClient, chat: Chat,
                                                              fake: FakeLLMServer) -> None:
    fake.fail(status=429, retry_after=0.2)
    asked = await _json(await client.post(chat.sessions, json={"question": "Igen"}, headers=chat.admin.headers), 201)
    assert asked["question"]["answer"] == "".join(fake.expected_tokens())
    assert len(fake.requests) == 2 and fake.requests[1].at - fake.requests[0].at >= 0.2


async def test_streaming_without_complete_says_so_and_fails_the_question(client: httpx.AsyncClient,
                                                                        chat: Chat) -> None:
    """COMPLETE_FUNCTION_NAME is empty in tests: the real invoker refuses, the question is not left queued."""
    r = await client.post(chat.sessions, json={"question": "Strömma", "stream": True}, headers=chat.admin.headers)
    assert r.status_code == 503 and r.json()["code"] == "complete_unavailable", r.text
    sessions = await _json(await client.get(chat.sessions, headers=chat.admin.headers), 200)
    detail = await _json(await client.get(f"{chat.sessions}{sessions['items'][0]['id']}/",
                                          headers=chat.admin.headers), 200)
    assert detail["questions"][0]["status"] == "failed"


async def test_sessions_belong_to_the_asker(client: httpx.AsyncClient, chat: Chat, make_user) -> None:
    asked = await _json(await client.post(chat.sessions, json={"question": "Mitt"}, headers=chat.admin.headers), 201)
    session, qid = asked["session_id"], asked["question"]["id"]
    other_tenant = await make_user()
    for who in (chat.viewer, other_tenant):
        assert (await client.get(f"{chat.sessions}{session}/", headers=who.headers)).status_code == 404
        assert (await client.get(f"/api/v1/questions/{qid}/", headers=who.headers)).status_code == 404
        assert (await client.get(f"/api/v1/questions/{qid}/stream", headers=who.headers)).status_code == 404
        r = await client.post(f"{chat.sessions}{session}/", json={"question": "Intrång"}, headers=who.headers)
        assert r.status_code == 404
    listed = await _json(await client.get(chat.sessions, headers=chat.viewer.headers), 200)
    assert listed["items"] == []


async def test_viewers_cannot_use_unpublished_assistants(client: httpx.AsyncClient, chat: Chat) -> None:
    r = await client.patch(f"/api/v1/assistants/{chat.assistant}/", json={"published": False},
                           headers=chat.admin.headers)
    assert r.status_code == 200, r.text
    r = await client.post(chat.sessions, json={"question": "Hej"}, headers=chat.viewer.headers)
    assert r.status_code == 404


async def test_too_long_questions_are_refused_before_anything_is_saved(client: httpx.AsyncClient, make_user,
                                                                       fake: FakeLLMServer) -> None:
    admin = await make_user()
    viewer = await make_user(Org(admin.tenant_id, ""), UserRole.user)
    chat = await make_chat(client, admin, viewer, fake, context_window=300)
    r = await client.post(chat.sessions, json={"question": "ord " * 300}, headers=admin.headers)
    assert r.status_code == 422 and r.json()["code"] == "question_too_long", r.text
    r = await client.post(chat.sessions, json={"question": "x" * 20_001}, headers=admin.headers)
    assert r.status_code == 413 and r.json()["code"] == "question_too_large" and "20000" in r.json()["message"], r.text
    assert (await _json(await client.get(chat.sessions, headers=admin.headers), 200))["items"] == []
    assert fake.requests == []


async def test_feedback_can_be_given_and_withdrawn(client: httpx.AsyncClient, chat: Chat) -> None:
    asked = await _json(await client.post(chat.sessions, json={"question": "Bra?"}, headers=chat.admin.headers), 201)
    url = f"{chat.sessions}{asked['session_id']}/feedback/"
    qid = asked["question"]["id"]
    given = await _json(await client.post(url, json={"question_id": qid, "value": -1, "text": "fel svar"},
                                          headers=chat.admin.headers), 200)
    assert given["feedback"] == {"value": -1, "text": "fel svar"}
    withdrawn = await _json(await client.post(url, json={"question_id": qid, "value": None},
                                              headers=chat.admin.headers), 200)
    assert withdrawn["feedback"] is None
    r = await client.post(url, json={"question_id": qid, "value": 5}, headers=chat.admin.headers)
    assert r.status_code == 422


async def test_deleting_a_session_removes_its_questions_and_streams(
        client: httpx.AsyncClient, chat: Chat, streamed: list[asyncio.Task[bool]]) -> None:
    asked = await _json(await client.post(chat.sessions, json={"question": "Glöm", "stream": True},
                                          headers=chat.admin.headers), 202)
    await asyncio.gather(*streamed)
    qid = asked["question"]["id"]
    assert await get_redis().exists(stream_key(qid))
    r = await client.delete(f"{chat.sessions}{asked['session_id']}/", headers=chat.admin.headers)
    assert r.status_code == 204
    assert (await client.get(f"/api/v1/questions/{qid}/", headers=chat.admin.headers)).status_code == 404
    assert not await get_redis().exists(stream_key(qid))


@pytest.mark.parametrize("provider_type", ["azure", "anthropic", "openai_compatible"])
async def test_every_provider_type_answers(client: httpx.AsyncClient, make_user, fake: FakeLLMServer,
                                          provider_type: str) -> None:
    admin = await make_user()
    viewer = await make_user(Org(admin.tenant_id, ""), UserRole.user)
    chat = await make_chat(client, admin, viewer, fake, provider_type=provider_type)
    asked = await _json(await client.post(chat.sessions, json={"question": "Hej"}, headers=admin.headers), 201)
    assert asked["question"]["answer"] == "".join(fake.expected_tokens())
    path = fake.requests[-1].path
    assert path == {"azure": "/openai/deployments/gpt-fake/chat/completions", "anthropic": "/v1/messages",
                    "openai_compatible": "/v1/chat/completions"}[provider_type]


async def test_a_question_whose_answer_was_lost_ends_as_failed(client: httpx.AsyncClient, chat: Chat,
                                                               function_apps: FunctionApps) -> None:
    """An invoke that never ran (the stack stopped with it queued) must not leave clients waiting forever."""
    function_apps["SessionsFunction"].dependency_overrides[get_invoker] = lambda: lambda tenant, question: None
    asked = await _json(await client.post(chat.sessions, json={"question": "Borttappad", "stream": True},
                                          headers=chat.admin.headers), 202)
    qid = asked["question"]["id"]
    fresh = await _json(await client.get(f"/api/v1/questions/{qid}/", headers=chat.admin.headers), 200)
    assert fresh["status"] == "queued", "not lost yet: complete may still come"

    async with UnitOfWork(chat.admin.tenant_id) as uow:  # the clock moves past complete's timeout
        await uow.session.execute(update(Question).where(Question.id == uuid.UUID(qid)).values(
            updated_at=utcnow() - timedelta(seconds=get_settings().answer_abandon_seconds + 1)))
    lost = await _json(await client.get(f"/api/v1/questions/{qid}/", headers=chat.admin.headers), 200)
    assert lost["status"] == "failed" and lost["error"]["code"] == "answer_lost"
    events = [e async for e in read_sse(client, chat.admin, qid)]
    assert [(kind, data["code"]) for _, kind, data in events] == [("error", "answer_lost")]


async def _asked_but_not_invoked(client: httpx.AsyncClient, chat: Chat, function_apps: FunctionApps,
                                 question: str) -> uuid.UUID:
    function_apps["SessionsFunction"].dependency_overrides[get_invoker] = lambda: lambda tenant, question: None
    asked = await _json(await client.post(chat.sessions, json={"question": question, "stream": True},
                                          headers=chat.admin.headers), 202)
    return uuid.UUID(asked["question"]["id"])


async def _half_streamed(tenant_id: uuid.UUID, qid: uuid.UUID, texts: list[str], **values: Any) -> None:
    """What a `complete` that died (or lost Redis) mid-answer leaves: a question and a stream without an end."""
    stream = AnswerStream(get_redis(), qid, get_settings().answer_stream_ttl_seconds)
    await stream.add("first_chunk", {"session_id": "s", "model": "gpt-fake", "references": []})
    for text in texts:
        await stream.add("text", {"text": text})
    async with UnitOfWork(tenant_id) as uow:
        await uow.session.execute(update(Question).where(Question.id == qid).values(**values))


async def test_a_lost_answer_keeps_what_had_streamed_as_its_partial_answer(
        client: httpx.AsyncClient, chat: Chat, function_apps: FunctionApps) -> None:
    """complete died mid-answer: the client had seen these tokens, so the saved answer keeps them."""
    qid = await _asked_but_not_invoked(client, chat, function_apps, "Avbruten")
    await _half_streamed(chat.admin.tenant_id, qid, ["Första ", "delen"], status="streaming",
                         updated_at=utcnow() - timedelta(seconds=get_settings().answer_abandon_seconds + 1))
    lost = await _json(await client.get(f"/api/v1/questions/{qid}/", headers=chat.admin.headers), 200)
    assert (lost["status"], lost["error"]["code"]) == ("failed", "answer_lost")
    assert lost["answer"] == "Första delen" and lost["partial"] is True
    events = [(kind, data) async for _, kind, data in read_sse(client, chat.admin, str(qid))]
    assert [kind for kind, _ in events] == ["first_chunk", "text", "text", "error"]
    assert events[-1][1]["code"] == "answer_lost" and events[-1][1]["partial"] is True


@pytest.mark.parametrize("outcome", ["completed", "failed"])
async def test_a_saved_answer_whose_stream_never_ended_ends_at_once(
        client: httpx.AsyncClient, chat: Chat, function_apps: FunctionApps, outcome: str) -> None:
    """The outcome was saved but Redis failed before the terminal entry: readers must not wait for it."""
    qid = await _asked_but_not_invoked(client, chat, function_apps, f"Sparad {outcome}")
    values: dict[str, Any] = {"status": outcome, "answer": "Svaret", "completed_at": utcnow()}
    values |= ({"input_tokens": 5, "output_tokens": 2} if outcome == "completed" else
               {"error_code": "internal_error", "error_message": "The answer could not be saved; ask again"})
    await _half_streamed(chat.admin.tenant_id, qid, ["Svaret"], **values)
    started = time.monotonic()
    events = [(kind, data) async for _, kind, data in read_sse(client, chat.admin, str(qid))]
    assert time.monotonic() - started < get_settings().sse_wait_seconds / 2, "the poll waited for an end"
    assert [kind for kind, _ in events] == ["first_chunk", "text", "done" if outcome == "completed" else "error"]
    end = events[-1][1]
    if outcome == "completed":
        assert end["usage"] == {"input_tokens": 5, "output_tokens": 2}
    else:
        assert (end["code"], end["partial"]) == ("internal_error", True)
    again = [kind async for _, kind, _ in read_sse(client, chat.admin, str(qid))]
    assert again == [kind for kind, _ in events], "a second reader must not add a second end"


async def test_a_start_reinvokes_queued_answers_and_fails_cut_off_ones_at_once(
        client: httpx.AsyncClient, chat: Chat, function_apps: FunctionApps) -> None:
    """The local stack's start: nothing is answering yet, so queued questions go to complete again and
    streaming ones (their writer died with the stop) are failed now, not after the abandonment time."""
    queued = await _asked_but_not_invoked(client, chat, function_apps, "Köad")
    cut = await _asked_but_not_invoked(client, chat, function_apps, "Avskuren")
    await _half_streamed(chat.admin.tenant_id, cut, ["Halv"], status="streaming")
    invoked: list[tuple[uuid.UUID, uuid.UUID]] = []
    again, lost = await resume_answers(chat.admin.tenant_id, lambda t, q: invoked.append((t, q)))
    assert (chat.admin.tenant_id, queued) in invoked and (chat.admin.tenant_id, cut) not in invoked
    assert again >= 1 and lost >= 1
    failed = await _json(await client.get(f"/api/v1/questions/{cut}/", headers=chat.admin.headers), 200)
    assert (failed["status"], failed["error"]["code"], failed["answer"]) == ("failed", "answer_lost", "Halv")
    still = await _json(await client.get(f"/api/v1/questions/{queued}/", headers=chat.admin.headers), 200)
    assert still["status"] == "queued", "complete answers it; the start only hands it over"


async def test_a_provider_key_stored_under_another_encryption_key_is_a_clear_error(
        client: httpx.AsyncClient, chat: Chat, fake: FakeLLMServer) -> None:
    """After ENCRYPTION_KEY changed, asking says which provider needs its key again (not a 500)."""
    async with UnitOfWork(chat.admin.tenant_id) as uow:
        provider = await uow.session.scalar(select(ModelProvider))  # RLS: this tenant's one provider
        assert provider is not None
        provider.credentials_encrypted = encrypt_secret("sk-old", aad_for(provider.tenant_id, provider.id),
                                                        key="an-encryption-key-of-another-installation")
    r = await client.post(chat.sessions, json={"question": "Hej"}, headers=chat.admin.headers)
    assert r.status_code == 409 and r.json()["code"] == "provider_key_unreadable", r.text
    assert provider.name in r.json()["message"] and "sk-old" not in r.text
    assert fake.requests == []


async def test_an_assistant_key_reaches_only_its_assistants_sessions(client: httpx.AsyncClient, chat: Chat) -> None:
    other = await _json(await client.post(f"/api/v1/spaces/{chat.space}/applications/assistants/",
                                          headers=chat.admin.headers,
                                          json={"name": "Annan", "published": True,
                                                "completion_model_id": chat.model}), 201)
    asked = await _json(await client.post(f"/api/v1/assistants/{other['id']}/sessions/", json={"question": "Privat"},
                                          headers=chat.admin.headers), 201)
    key = await _json(await client.post("/api/v1/api-keys/", headers=chat.admin.headers, json={
        "name": "bot", "scope": "assistant", "assistant_id": chat.assistant}), 201)
    bot = {"X-API-Key": key["key"]}
    base = f"/api/v1/assistants/{other['id']}/sessions/{asked['session_id']}/"
    r = await client.post(f"{base}feedback/", json={"question_id": asked["question"]["id"], "value": 1}, headers=bot)
    assert r.status_code == 404 and "Privat" not in r.text
    assert (await client.delete(base, headers=bot)).status_code == 404
    assert (await client.get(f"/api/v1/questions/{asked['question']['id']}/", headers=bot)).status_code == 404
    still = await _json(await client.get(base, headers=chat.admin.headers), 200)
    assert still["questions"][0]["feedback"] is None
    mine = await client.post(chat.sessions, json={"question": "Till rätt assistent"}, headers=bot)
    assert mine.status_code == 201, mine.text


async def test_provider_text_postgres_cannot_store_is_cleaned_not_fatal(client: httpx.AsyncClient, chat: Chat,
                                                                         fake: FakeLLMServer) -> None:
    fake.tokens = ["Svar ", "med\x00NUL ", "slut"]
    try:
        asked = await _json(await client.post(chat.sessions, json={"question": "Konstigt"},
                                              headers=chat.admin.headers), 201)
    finally:
        fake.tokens = None
    assert asked["question"]["status"] == "completed"
    assert asked["question"]["answer"] == "Svar medNUL slut"


async def test_the_deadline_holds_while_waiting_for_the_provider(client: httpx.AsyncClient, chat: Chat,
                                                                  fake: FakeLLMServer,
                                                                  function_apps: FunctionApps) -> None:
    """A provider that sends nothing must not run the function past its timeout: the answer ends labelled."""
    function_apps["SessionsFunction"].dependency_overrides[get_invoker] = lambda: lambda tenant, question: None
    asked = await _json(await client.post(chat.sessions, json={"question": "Tyst", "stream": True},
                                          headers=chat.admin.headers), 202)
    fake.stall_after(0, 30)
    started = time.monotonic()
    await answer_question(chat.admin.tenant_id, uuid.UUID(asked["question"]["id"]),
                          deadline=started + DEADLINE_MARGIN + 1.0)
    assert time.monotonic() - started < 5, "the answer ended at its deadline, not the provider's"
    events = [e async for e in read_sse(client, chat.admin, asked["question"]["id"])]
    assert events[-1][1] == "error" and events[-1][2]["code"] == "answer_timeout"
