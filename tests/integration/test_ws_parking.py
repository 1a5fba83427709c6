"""Parked WebSocket relays and the per-user caps, on real Redis (eneo.core.parking, eneo.realtime.connections).

A relay with nothing to send parks and its invocation ends; the stream's next write hands the ticket to the ws
function. Here the Lambda Invoke API is a small HTTP server that records what it is given, so the tests see
exactly which relays a write wakes.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from eneo.answers.stream import AnswerStream
from eneo.core import parking
from eneo.core.redis import get_redis
from eneo.core.settings import get_settings
from eneo.core.streams import START
from eneo.core.user_events import UserEvents
from eneo.realtime import connections
from eneo.realtime.connections import Connection

pytestmark = pytest.mark.usefixtures("db")


class FakeLambda(ThreadingHTTPServer):
    """Answers Lambda's Invoke API with 202 and keeps the payloads."""

    def __init__(self) -> None:
        self.invoked: list[tuple[str, dict[str, Any]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.invoked.append((self.path.split("/")[3], json.loads(body)))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:  # quiet: the test output stays readable
                return

        super().__init__(("127.0.0.1", 0), Handler)

    def tickets(self) -> list[parking.Ticket]:
        return [parking.Ticket(**payload[parking.EVENT_KEY]) for _, payload in self.invoked]


@pytest.fixture
def lam(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLambda]:
    server = FakeLambda()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    monkeypatch.setenv("WS_FUNCTION_NAME", "t-ws")
    get_settings.cache_clear()
    parking._lambda_client.cache_clear()
    try:
        yield server
    finally:
        server.shutdown()
        monkeypatch.undo()
        get_settings.cache_clear()
        parking._lambda_client.cache_clear()


def ticket(stream_key: str, last_id: str, connection_id: str = "c1", slot: str = "answer") -> parking.Ticket:
    return parking.Ticket(connection_id, slot, "tok", stream_key, last_id, "http://127.0.0.1:1/live")


async def test_a_relay_parks_only_when_no_entry_waits_after_it_and_the_next_write_wakes_it(lam: FakeLambda) -> None:
    redis = get_redis()
    stream = AnswerStream(redis, uuid.uuid4(), 600)
    first = await stream.add("first_chunk", {"references": []})
    assert not await parking.park(redis, ticket(stream.key, START)), "an entry is waiting: relay it, do not park"
    assert await parking.park(redis, ticket(stream.key, first))
    assert lam.invoked == []
    second = await stream.add("text", {"text": "Hej"})
    assert [(name, t.connection_id, t.last_id) for (name, _), t in zip(lam.invoked, lam.tickets(), strict=True)] == [
        ("t-ws", "c1", first)], "the write hands the ticket to the ws function, from where it stopped"
    await stream.add("text", {"text": " igen"})
    assert len(lam.invoked) == 1, "a ticket wakes one relay, once"
    assert await parking.park(redis, ticket(stream.key, second, "c2")) is False, "' igen' came after it"


async def test_status_events_and_stream_ends_wake_their_parked_relays(lam: FakeLambda) -> None:
    redis = get_redis()
    events = UserEvents(redis, uuid.uuid4(), 600)
    assert await parking.park(redis, ticket(events.key, START, slot="events"))
    await events.publish("info_blob.status", {"status": "ready"})
    answer = AnswerStream(redis, uuid.uuid4(), 600)
    last = await answer.add("first_chunk", {"references": []})
    assert await parking.park(redis, ticket(answer.key, last, "c3"))
    await answer.end("error", {"code": "answer_lost", "message": "x", "partial": False})
    assert [(t.stream_key, t.slot) for t in lam.tickets()] == [(events.key, "events"), (answer.key, "answer")]


async def test_no_entry_is_stranded_between_a_park_and_a_write(lam: FakeLambda) -> None:
    """Parks and writes racing: every time, either the park was refused or the write took the ticket."""
    redis = get_redis()
    rng = random.Random(7)
    for round_ in range(150):
        stream = AnswerStream(redis, uuid.uuid4(), 600)
        last = await stream.add("first_chunk", {"references": []})
        before = len(lam.invoked)

        async def park(stream: AnswerStream = stream, last_id: str = last) -> bool:
            await asyncio.sleep(rng.random() / 1000)
            return await parking.park(redis, ticket(stream.key, last_id))

        async def write(stream: AnswerStream = stream) -> None:
            await asyncio.sleep(rng.random() / 1000)
            await stream.add("text", {"text": "x"})

        parked, _ = await asyncio.gather(park(), write())
        woken = len(lam.invoked) - before
        left = await parking.tickets_of(redis, stream.key)
        assert (parked, woken, left) in ((False, 0, []), (True, 1, [])), f"round {round_}"


async def test_a_failed_wake_leaves_the_ticket_for_the_sweep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WS_FUNCTION_NAME", "t-ws")
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", "http://127.0.0.1:9")  # nothing listens: the invoke fails
    get_settings.cache_clear()
    parking._lambda_client.cache_clear()
    try:
        redis = get_redis()
        stream = AnswerStream(redis, uuid.uuid4(), 600)
        last = await stream.add("first_chunk", {"references": []})
        assert await parking.park(redis, ticket(stream.key, last))
        await stream.add("text", {"text": "Hej"})
        assert [t.last_id for t in await parking.tickets_of(redis, stream.key)] == [last]
        assert stream.key in await parking.parked_index(redis)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
        parking._lambda_client.cache_clear()


def conn(user: uuid.UUID, index: int) -> Connection:
    return Connection(f"conn-{user.hex[:8]}-{index}", uuid.uuid4(), user)


async def test_a_user_has_at_most_the_cap_of_connections_and_a_closed_one_frees_its_place() -> None:
    redis, user = get_redis(), uuid.uuid4()
    accepted = [await connections.remember(redis, conn(user, i), 3) for i in range(5)]
    assert accepted == [True, True, True, False, False]
    assert await connections.remember(redis, conn(uuid.uuid4(), 0), 3), "other users are not counted"
    await connections.forget(redis, conn(user, 0).id)
    assert await connections.remember(redis, conn(user, 5), 3)
    await redis.delete(f"ws:conn:{conn(user, 1).id}")  # its record expired ($disconnect never came)
    assert await connections.remember(redis, conn(user, 6), 3)
    assert not await connections.remember(redis, conn(user, 7), 3)


async def test_subscriptions_are_capped_across_a_users_connections() -> None:
    redis, user = get_redis(), uuid.uuid4()
    a, b = conn(user, 0), conn(user, 1)
    for c in (a, b):
        assert await connections.remember(redis, c, 10)
    tokens = [await connections.take_relay(redis, a, 3, "events"), await connections.take_relay(redis, b, 3, "events"),
              await connections.take_relay(redis, a, 3, "answer")]
    assert all(tokens)
    assert await connections.take_relay(redis, b, 3, "answer") is None, "a fourth subscription is refused"
    assert await connections.take_relay(redis, a, 3, "answer"), "a subscribe that replaces one is not a new one"
    assert not await connections.still_relaying(redis, a.id, str(tokens[2]), "answer"), "and it took over"
    answer_token = await connections.take_relay(redis, a, 3, "answer")
    await connections.release_relay(redis, a.id, str(answer_token), "answer")  # its answer ended
    assert await connections.take_relay(redis, b, 3, "answer")
    await connections.forget(redis, b.id)
    assert await connections.take_relay(redis, a, 3, "answer"), "a closed connection's subscriptions are gone"
