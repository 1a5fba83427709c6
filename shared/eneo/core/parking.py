"""Parked subscriptions: a relay with nothing to send ends, and the stream's next write starts it again.

A relay is a function invocation. Holding one while a stream is quiet (a user's status events, an answer
waiting for its provider) let ten idle `subscribe_events` hold every ws instance for minutes. So a relay that
has read nothing for a short while *parks*: it leaves a ticket (connection, slot, where it stopped) on the
stream and returns. Whoever writes to the stream next (complete, the ingestion functions, a reader ending a
lost answer) takes the stream's tickets and hands each to the ws function as an asynchronous invoke, which
relays on from where the ticket stopped. An idle subscription then costs a Redis hash field, no instance.

No entry can fall between the two: parking is refused when the stream already has an entry after the ticket's
id (one Lua step), and a writer looks for tickets only after its entry is written; taking tickets is one step
too, so a ticket wakes exactly one relay. A writer that cannot invoke (Lambda refused) leaves its tickets to
the ws function's one-minute sweep, which wakes parked subscriptions whose stream moved on and rechecks the
questions of parked answers (a writer that died never writes again: the sweep fails such answers as lost).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from redis.asyncio import Redis

from eneo.core.settings import get_settings

log = logging.getLogger("eneo.realtime")

PARKED_INDEX = "ws:parked"  # sorted set: stream keys with parked tickets, scored by the last park (the sweep's list)
PARK_TTL_SECONDS = 2 * 60 * 60 + 10 * 60  # no ticket outlives its connection (API Gateway: 2 h)
EVENT_KEY = "eneo_relay"  # the key of a wake event's ticket; WebSocket and schedule events never have it


def park_key(stream_key: str) -> str:
    return f"ws:park:{stream_key}"


@dataclass(frozen=True)
class Ticket:
    """Where a parked relay stopped, and what its next invocation needs to go on."""

    connection_id: str
    slot: str  # "answer" | "events" (eneo.realtime.connections.RelaySlot)
    token: str  # the slot's relay token: a newer subscribe on the connection invalidates the ticket
    stream_key: str
    last_id: str
    endpoint: str  # the @connections endpoint
    question_id: str | None = None  # answers
    tenant_id: str | None = None  # answers: where the sweep finds the question

    @property
    def field(self) -> str:
        return f"{self.connection_id}:{self.slot}"

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Ticket:
        return cls(**json.loads(raw))


# KEYS: stream, park hash, index. ARGV: after id, field, ticket, ttl, now. 1 = parked, 0 = entries are waiting.
_PARK = """
if #redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+', 'COUNT', 1) > 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[5], KEYS[1])
return 1
"""

# KEYS: park hash. Every ticket, removed in the same step (each wakes one relay).
_TAKE = """
local tickets = redis.call('HVALS', KEYS[1])
if #tickets > 0 then redis.call('DEL', KEYS[1]) end
return tickets
"""

# KEYS: park hash, index. ARGV: stream key. Drops the stream from the index once it has no tickets.
_FORGET_EMPTY = """
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('ZREM', KEYS[2], ARGV[1]) return 1 end
return 0
"""


def enabled() -> bool:
    """Relays park only where a writer can wake them (WS_FUNCTION_NAME set: the stack and AWS)."""
    return bool(get_settings().ws_function_name)


async def park(redis: Redis, ticket: Ticket) -> bool:
    """Leave the ticket on its stream; False when entries after its id are already there (relay them)."""
    parked = await redis.eval(_PARK, 3, ticket.stream_key, park_key(ticket.stream_key), PARKED_INDEX,
                              ticket.last_id, ticket.field, ticket.to_json(), str(PARK_TTL_SECONDS),
                              str(time.time()))
    return bool(parked)


async def take(redis: Redis, stream_key: str) -> list[Ticket]:
    raw: Any = await redis.eval(_TAKE, 1, park_key(stream_key))
    return [Ticket.from_json(value) for value in raw or []]


async def wake(redis: Redis, stream_key: str) -> int:
    """After a write to the stream: start a relay for every ticket parked on it. Returns how many."""
    tickets = await take(redis, stream_key)
    if tickets:
        await asyncio.gather(*(_invoke(redis, ticket) for ticket in tickets))
    return len(tickets)


def parked_flag(pipe: Any, stream_key: str) -> None:
    """Queue the writer's check for tickets in the same round trip as its write (after it, in order)."""
    pipe.exists(park_key(stream_key))


async def parked_index(redis: Redis) -> list[str]:
    keys: Any = await redis.zrange(PARKED_INDEX, 0, -1)
    return [k.decode() if isinstance(k, bytes) else str(k) for k in keys]


async def tickets_of(redis: Redis, stream_key: str) -> list[Ticket]:
    """The stream's tickets, left in place (the sweep looks before it takes)."""
    raw: Any = await redis.hvals(park_key(stream_key))
    if not raw:
        await redis.eval(_FORGET_EMPTY, 2, park_key(stream_key), PARKED_INDEX, stream_key)
    return [Ticket.from_json(value) for value in raw or []]


@lru_cache
def _lambda_client() -> Any:
    import boto3

    return boto3.client("lambda", region_name=get_settings().aws_region)


async def _invoke(redis: Redis, ticket: Ticket) -> None:
    """Hand the ticket to the ws function (an asynchronous invoke: it returns once Lambda queued it).

    A failed invoke is logged and the ticket is parked again for the sweep, not raised: the writer's entry
    is written, and its own work must go on."""
    name = get_settings().ws_function_name
    payload = json.dumps({EVENT_KEY: json.loads(ticket.to_json())}).encode()
    try:
        response = await asyncio.to_thread(_lambda_client().invoke, FunctionName=name, InvocationType="Event",
                                           Payload=payload)
        if response.get("StatusCode") == 202:
            return
        error = f"status {response.get('StatusCode')}"
    except Exception as exc:  # botocore's errors, connection failures
        error = type(exc).__name__
    log.error("waking a parked relay failed; the sweep retries it", extra={"error": error,
                                                                         "connection_id": ticket.connection_id})
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(park_key(ticket.stream_key), ticket.field, ticket.to_json())
        pipe.expire(park_key(ticket.stream_key), PARK_TTL_SECONDS)
        pipe.zadd(PARKED_INDEX, {ticket.stream_key: time.time()})
        await pipe.execute()
