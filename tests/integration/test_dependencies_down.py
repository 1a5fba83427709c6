"""While Redis or Postgres cannot be reached, requests answer 503 with a precise code and Retry-After, never
500, and an ask is refused before its question is saved; `complete` leaves its question for the retry, and the
ws function answers with a code the client retries on. The functions' clients are pointed at a socket nobody
listens on: a real connection failure, as when the server died."""

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from eneo.core.db import UnitOfWork, dispose_engine
from eneo.core.health import DependencyUnavailable, unavailable
from eneo.core.ids import utcnow
from eneo.core.redis import close_redis, get_redis
from eneo.core.settings import get_settings
from eneo.sessions.api import get_invoker
from eneo.sessions.models import Question, QuestionStatus
from tests.fakes.llm_server import FakeLLMServer
from tests.integration.conftest import PASSWORD, FunctionApps, load_function
from tests.integration.pipeline import invoke
from tests.integration.test_sessions import Chat, read_sse
from tests.integration.test_ws_key_scope import frames, ws_event  # noqa: F401 - `frames` is a fixture


async def _point(variable: str, value: str) -> str:
    saved = os.environ[variable]
    os.environ[variable] = value
    get_settings.cache_clear()
    await close_redis()
    await dispose_engine()
    return saved


def _aim(pool: Any, path: str) -> None:
    """Point a Redis client's pool, and the connections it holds (each reconnects to its own path), at `path`."""
    pool.connection_kwargs["path"] = path
    for connection in (*pool._available_connections, *pool._in_use_connections):
        connection.path = path


@contextlib.asynccontextmanager
async def redis_gone(tmp_path: Path) -> AsyncIterator[None]:
    """Redis is unreachable, also for a client already in use (a running answer or relay holds one): its
    connections are dropped and reconnect to the dead socket too, as when the server died under them."""
    dead = f"{tmp_path}/dead.sock"
    pool = get_redis().connection_pool
    alive = pool.connection_kwargs["path"]
    _aim(pool, dead)
    saved = await _point("REDIS_URL", f"unix://{dead}")  # closes the client: its connections drop
    try:
        yield
    finally:
        _aim(pool, alive)
        await _point("REDIS_URL", saved)


@contextlib.asynccontextmanager
async def database_gone(tmp_path: Path) -> AsyncIterator[None]:
    url = os.environ["DATABASE_URL"]
    saved = await _point("DATABASE_URL", url.split("?host=")[0] + f"?host={tmp_path}")
    try:
        yield
    finally:
        await _point("DATABASE_URL", saved)


@pytest.fixture
async def redis_down(tmp_path: Path) -> AsyncIterator[None]:
    async with redis_gone(tmp_path):
        yield


@pytest.fixture
async def database_down(tmp_path: Path) -> AsyncIterator[None]:
    async with database_gone(tmp_path):
        yield


def assert_unavailable(r: httpx.Response, code: str) -> None:
    assert r.status_code == 503, r.text
    assert r.json()["code"] == code and r.json()["request_id"] == r.headers["x-request-id"]
    assert int(r.headers["retry-after"]) > 0


async def test_login_while_redis_is_down_is_503_not_500(client: httpx.AsyncClient, chat: Chat,
                                                        redis_down: None) -> None:
    r = await client.post("/api/v1/users/login/token/", data={"username": chat.admin.email, "password": PASSWORD})
    assert_unavailable(r, "redis_unavailable")


async def test_an_ask_while_redis_is_down_is_refused_before_it_is_saved(client: httpx.AsyncClient, chat: Chat,
                                                                       fake: FakeLLMServer, redis_down: None) -> None:
    fake.reset()
    for stream in (True, False):
        r = await client.post(chat.sessions, json={"question": "Hallå?", "stream": stream}, headers=chat.admin.headers)
        assert_unavailable(r, "redis_unavailable")
    async with UnitOfWork(chat.admin.tenant_id) as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Question)) == 0, "nothing accepted"
    assert fake.requests == [], "the model was not asked"


async def test_requests_while_the_database_is_down_are_503(client: httpx.AsyncClient, chat: Chat,
                                                           database_down: None) -> None:
    assert_unavailable(await client.get("/api/v1/spaces/", headers=chat.admin.headers), "database_unavailable")
    r = await client.post("/api/v1/users/login/token/", data={"username": chat.admin.email, "password": PASSWORD})
    assert_unavailable(r, "database_unavailable")


async def test_a_failed_statement_is_not_a_dependency_down(db: object) -> None:
    with pytest.raises(DBAPIError) as timed_out:
        async with UnitOfWork() as uow:
            await uow.session.execute(text("SET LOCAL statement_timeout = 10"))
            await uow.session.execute(text("SELECT pg_sleep(1)"))
    assert unavailable(timed_out.value) is None, "a statement timeout is ours to fix: 500"


async def test_a_queued_record_while_the_database_is_down_is_handed_back_to_the_queue(
        database_down: None, caplog: pytest.LogCaptureFixture) -> None:
    """SQS delivers it again (a batch item failure), and the log says why: not a bug to chase."""
    from eneo.ingestion.handlers import handle_embed_event

    body = json.dumps({"tenant_id": str(uuid.uuid4()), "blob_id": str(uuid.uuid4()),
                       "embedding_model_id": str(uuid.uuid4()), "chunk_ids": [str(uuid.uuid4())]})
    event = {"Records": [{"messageId": "m-1", "receiptHandle": "r-1", "body": body, "eventSource": "aws:sqs",
                          "attributes": {"ApproximateReceiveCount": "3"}}]}
    with caplog.at_level(logging.INFO, logger="eneo.ingestion"):
        assert await handle_embed_event(event) == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    logged = [(r.getMessage(), getattr(r, "code", None)) for r in caplog.records]
    assert ("dependency unavailable; record will be retried", "database_unavailable") in logged, logged


# `complete` and the ws function. `complete` runs as its Lambda worker runs it (tests.integration.pipeline.invoke);
# where an answer and a relay must share a Redis that dies under them, the use case runs as a task of this loop.

class WsContext:
    """Lambda's context for the ws function: by default a minute left, so a relay runs until its answer ends."""

    function_name = "t-ws"

    def __init__(self, remaining_ms: int = 60_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture(scope="module")
def complete() -> Any:
    return load_function("complete")


async def _asked(client: httpx.AsyncClient, chat: Chat, function_apps: FunctionApps) -> uuid.UUID:
    """A streamed question whose `complete` invoke the test makes itself."""
    function_apps["SessionsFunction"].dependency_overrides[get_invoker] = lambda: lambda tenant, question: None
    r = await client.post(chat.sessions, json={"question": "Hallå?", "stream": True}, headers=chat.admin.headers)
    assert r.status_code == 202, r.text
    return uuid.UUID(r.json()["question"]["id"])


async def _saved(chat: Chat, qid: uuid.UUID) -> Question:
    async with UnitOfWork(chat.admin.tenant_id) as uow:
        return await uow.session.get_one(Question, qid)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str | None]]:
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "an outage is no bug: no error, no traceback"
    return [(r.getMessage(), getattr(r, "code", None)) for r in caplog.records if r.levelno == logging.WARNING]


async def test_complete_while_the_database_is_down_fails_for_a_retry_and_the_question_still_ends(
        client: httpx.AsyncClient, chat: Chat, function_apps: FunctionApps, complete: Any, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """The invocation fails (Lambda retries it, EventInvokeConfig) with one warning; if no retry comes in time,
    the question is not stranded: it is still `queued`, and readers fail it as lost after the abandonment time."""
    qid = await _asked(client, chat, function_apps)
    event = {"tenant_id": str(chat.admin.tenant_id), "question_id": str(qid)}
    with caplog.at_level(logging.INFO):
        async with database_gone(tmp_path):
            with pytest.raises(DependencyUnavailable) as down:
                await invoke(complete, event)
    assert down.value.code == "database_unavailable"
    assert _warnings(caplog) == [("dependency unavailable; the question will be retried", "database_unavailable")]
    assert (await _saved(chat, qid)).status == QuestionStatus.queued

    async with UnitOfWork(chat.admin.tenant_id) as uow:  # the retries are spent and the clock moves on
        await uow.session.execute(update(Question).where(Question.id == qid).values(
            updated_at=utcnow() - timedelta(seconds=get_settings().answer_abandon_seconds + 1)))
    r = await client.get(f"/api/v1/questions/{qid}/", headers=chat.admin.headers)
    assert (r.json()["status"], r.json()["error"]["code"]) == ("failed", "answer_lost")
    events = [(kind, data["code"]) async for _, kind, data in read_sse(client, chat.admin, str(qid))]
    assert events == [("error", "answer_lost")]


async def test_complete_while_redis_is_down_hands_the_question_back_and_its_retry_answers_it(
        client: httpx.AsyncClient, chat: Chat, fake: FakeLLMServer, function_apps: FunctionApps, complete: Any,
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Postgres is up, so the question was claimed before the first entry failed: the claim goes back, or the
    retry would skip a question nobody answers (until the abandonment time, minutes later)."""
    qid = await _asked(client, chat, function_apps)
    event = {"tenant_id": str(chat.admin.tenant_id), "question_id": str(qid)}
    with caplog.at_level(logging.INFO):
        async with redis_gone(tmp_path):
            with pytest.raises(DependencyUnavailable) as down:
                await invoke(complete, event)
    assert down.value.code == "redis_unavailable"
    assert _warnings(caplog) == [("dependency unavailable; the question will be retried", "redis_unavailable")]
    assert (await _saved(chat, qid)).status == QuestionStatus.queued, "handed back for the retry"

    assert await invoke(complete, event) == {"status": "answered"}  # Lambda's retry, Redis back
    saved = await _saved(chat, qid)
    assert (saved.status, saved.answer) == (QuestionStatus.completed, "".join(fake.expected_tokens()))
    kinds = [kind async for _, kind, _ in read_sse(client, chat.admin, str(qid))]
    assert kinds[0] == "first_chunk" and kinds[-1] == "done" and kinds.count("done") == 1


async def test_redis_dying_mid_answer_fails_it_ends_the_relay_with_a_code_and_readers_get_the_end_at_once(
        client: httpx.AsyncClient, chat: Chat, fake: FakeLLMServer, function_apps: FunctionApps,
        frames: list[dict[str, Any]], tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # noqa: F811
    """The answer is saved failed (`redis_unavailable`, the part that arrived kept), the WebSocket relay ends
    with a frame the client retries on, and once Redis is back a reader gets the rest and the end at once."""
    from eneo.answers.service import answer_question
    from eneo.realtime.handler import handle

    fake.tokens, fake.delay = [f"t{i} " for i in range(60)], 0.05
    whole = "".join(fake.tokens)
    try:
        qid = await _asked(client, chat, function_apps)
        token = chat.admin.headers["Authorization"].split()[1]
        connected = await handle(ws_event("$connect", "c-mid", queryStringParameters={"token": token}), WsContext())
        assert connected["statusCode"] == 200, connected
        answer = asyncio.create_task(answer_question(chat.admin.tenant_id, qid))
        body = json.dumps({"action": "subscribe", "question_id": str(qid)})
        relay = asyncio.create_task(handle(ws_event("subscribe", "c-mid", body=body), WsContext()))
        for _ in range(200):  # until the client has a few tokens
            if sum(f.get("type") == "text" for f in frames) >= 3:
                break
            await asyncio.sleep(0.05)
        with caplog.at_level(logging.INFO):
            async with redis_gone(tmp_path):
                assert await asyncio.wait_for(answer, 15) is True
                assert await asyncio.wait_for(relay, 15) == {"statusCode": 200}
                saved = await _saved(chat, qid)
    finally:
        fake.tokens, fake.delay = None, 0.0
    seen = "".join(f["text"] for f in frames if f.get("type") == "text")
    last = frames[-1]
    assert (last["type"], last["code"], last["question_id"], "id" in last) == (
        "error", "redis_unavailable", str(qid), False), last
    assert last["retry_after"] > 0
    assert (saved.status, saved.error_code, saved.partial) == (QuestionStatus.failed, "redis_unavailable", True)
    assert seen and saved.answer.startswith(seen) and len(saved.answer) < len(whole)
    assert ("answer failed: dependency unavailable", "redis_unavailable") in _warnings(caplog)

    last_id = [f["id"] for f in frames if "id" in f][-1]
    started = time.monotonic()
    rest = [(kind, data) async for _, kind, data in read_sse(client, chat.admin, str(qid), last_id)]
    assert time.monotonic() - started < get_settings().sse_wait_seconds / 2, "the reader waited for an end"
    assert [kind for kind, _ in rest][-1:] == ["error"] and set(kind for kind, _ in rest) <= {"text", "error"}
    assert (rest[-1][1]["code"], rest[-1][1]["partial"]) == ("redis_unavailable", True)
    assert saved.answer.startswith(seen + "".join(data["text"] for kind, data in rest if kind == "text"))


@pytest.mark.parametrize("code", ["redis_unavailable", "database_unavailable"])
async def test_the_ws_function_while_a_dependency_is_down_answers_with_a_code_to_retry_on(
        client: httpx.AsyncClient, chat: Chat, frames: list[dict[str, Any]], tmp_path: Path, code: str,  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    """`$connect` is refused 503, and `subscribe`/`subscribe_events` get an error frame with the code and
    `retry_after`, not a function error (API Gateway's bare "Internal server error"); then all works again."""
    from eneo.realtime.handler import handle

    token = chat.admin.headers["Authorization"].split()[1]
    connect = ws_event("$connect", "c-up", queryStringParameters={"token": token})
    assert (await handle(connect, WsContext()))["statusCode"] == 200
    question_id = str(uuid.uuid4())
    gone = redis_gone if code == "redis_unavailable" else database_gone
    with caplog.at_level(logging.INFO):
        async with gone(tmp_path):
            refused = await handle(ws_event("$connect", "c-new", queryStringParameters={"token": token}), WsContext())
            for route, body in (("subscribe", {"question_id": question_id}), ("subscribe_events", {})):
                message = json.dumps({"action": route} | body)
                assert await handle(ws_event(route, "c-up", body=message), WsContext()) == {"statusCode": 200}
    assert (refused["statusCode"], json.loads(refused["body"])["code"]) == (503, code)
    assert [(f["type"], f["code"], f.get("question_id") or f.get("stream"), f["retry_after"] > 0) for f in frames] == [
        ("error", code, question_id, True), ("error", code, "events", True)]
    assert {message for message, _ in _warnings(caplog)} == {"dependency unavailable"}

    frames.clear()
    message = json.dumps({"action": "subscribe_events"})
    relayed = await handle(ws_event("subscribe_events", "c-up", body=message), WsContext(remaining_ms=1500))
    assert relayed == {"statusCode": 200} and frames[0]["type"] == "subscribed"


async def test_the_database_going_away_mid_answer_still_ends_its_stream_and_the_question_later(
        client: httpx.AsyncClient, chat: Chat, fake: FakeLLMServer, function_apps: FunctionApps, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    """The outcome cannot be saved: the stream still ends at once (`database_unavailable`, the part kept), and
    the question, left `streaming`, is failed as lost after the abandonment time with the streamed text."""
    from eneo.answers.service import answer_question
    from eneo.answers.stream import AnswerStream

    fake.tokens, fake.delay = [f"d{i} " for i in range(30)], 0.05
    try:
        qid = await _asked(client, chat, function_apps)
        answer = asyncio.create_task(answer_question(chat.admin.tenant_id, qid))
        stream = AnswerStream(get_redis(), qid, get_settings().answer_stream_ttl_seconds)
        for _ in range(200):  # until a few tokens are in the stream
            if len([e for e in await stream.read() if e.type == "text"]) >= 3:
                break
            await asyncio.sleep(0.05)
        with caplog.at_level(logging.INFO):
            async with database_gone(tmp_path):
                assert await asyncio.wait_for(answer, 15) is True
    finally:
        fake.tokens, fake.delay = None, 0.0
    assert ("saving the answer failed: dependency unavailable", "database_unavailable") in _warnings(caplog)
    entries = await AnswerStream(get_redis(), qid, get_settings().answer_stream_ttl_seconds).read()
    end = entries[-1]
    assert (end.type, end.data["code"], end.data["partial"]) == ("error", "database_unavailable", True)
    streamed = "".join(e.data["text"] for e in entries if e.type == "text")

    assert (await _saved(chat, qid)).status == QuestionStatus.streaming
    async with UnitOfWork(chat.admin.tenant_id) as uow:  # the clock moves past the abandonment time
        await uow.session.execute(update(Question).where(Question.id == qid).values(
            updated_at=utcnow() - timedelta(seconds=get_settings().answer_abandon_seconds + 1)))
    lost = (await client.get(f"/api/v1/questions/{qid}/", headers=chat.admin.headers)).json()
    assert (lost["status"], lost["error"]["code"], lost["answer"], lost["partial"]) == (
        "failed", "answer_lost", streamed, True)
