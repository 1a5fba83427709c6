"""Who a WebSocket connection belongs to, from `$connect` until `$disconnect`.

Kept in Redis, not the database: a connection lives at most two hours (API Gateway's limit), is
looked up on every message, and is worthless after a restart of the gateway anyway. Only ids are
kept; the credential the client connected with is not.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from eneo.auth.sessions import ended_key

CONNECTION_TTL_SECONDS = 2 * 60 * 60 + 10 * 60  # API Gateway closes a connection after 2 h


def _key(connection_id: str) -> str:
    return f"ws:conn:{connection_id}"


@dataclass(frozen=True)
class Connection:
    id: str
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    assistant_id: uuid.UUID | None = None  # set when the client connected with an assistant-scoped key
    key_id: uuid.UUID | None = None  # the API key it connected with: rechecked on every subscribe
    generation: int | None = None  # the token's session generation: a password change ends the connection
    session_id: uuid.UUID | None = None  # the token's login session: its logout ends the connection's relays


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def _user_key(user_id: uuid.UUID | str) -> str:
    return f"ws:user:{user_id}"


# KEYS: the user's set of connections, the new connection's key. ARGV: connection id, its record, ttl, cap, now.
# Connections whose record is gone ($disconnect ran, or it expired) no longer count. 1 = remembered, 0 = at the cap.
_REMEMBER = """
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if redis.call('EXISTS', 'ws:conn:' .. id) == 0 then redis.call('ZREM', KEYS[1], id) end
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[5], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


async def remember(redis: Redis, connection: Connection, max_per_user: int) -> bool:
    """Remember the connection unless its user has `max_per_user` open already (then False)."""
    value = {"tenant_id": str(connection.tenant_id), "user_id": str(connection.user_id),
             "assistant_id": str(connection.assistant_id) if connection.assistant_id else None,
             "key_id": str(connection.key_id) if connection.key_id else None, "generation": connection.generation,
             "session_id": str(connection.session_id) if connection.session_id else None}
    done = await redis.eval(_REMEMBER, 2, _user_key(connection.user_id), _key(connection.id), connection.id,
                            json.dumps(value), str(CONNECTION_TTL_SECONDS), str(max_per_user), str(time.time()))
    return bool(done)


async def lookup(redis: Redis, connection_id: str) -> Connection | None:
    raw = await redis.get(_key(connection_id))
    if raw is None:
        return None
    value = json.loads(raw)
    return Connection(connection_id, uuid.UUID(value["tenant_id"]), uuid.UUID(value["user_id"]),
                      _uuid(value.get("assistant_id")), _uuid(value.get("key_id")), value.get("generation"),
                      _uuid(value.get("session_id")))


async def forget(redis: Redis, connection_id: str) -> None:
    connection = await lookup(redis, connection_id)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.delete(_key(connection_id), *(_relay_key(connection_id, slot) for slot in SLOTS))
        if connection is not None:
            pipe.zrem(_user_key(connection.user_id), connection_id)
        await pipe.execute()


# One relay per connection: a new `subscribe` takes over, and the relay it replaces stops at its
# next read. Without this, one client sending many subscribes would hold as many function instances.

# A connection has one slot per kind of stream: an answer, and the user's status events.
RelaySlot = Literal["answer", "events"]
SLOTS: tuple[RelaySlot, ...] = ("answer", "events")


def _relay_key(connection_id: str, slot: RelaySlot = "answer") -> str:
    return f"ws:relay:{connection_id}" if slot == "answer" else f"ws:relay:{slot}:{connection_id}"


# KEYS: the user's set of connections, the slot's key. ARGV: connection id, slot, token, ttl, cap. A subscription
# is a slot with a relay token, running or parked; the slot asked for does not count (a subscribe replaces it).
_TAKE_SLOT = """
local used = 0
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  for _, key in ipairs({'ws:relay:' .. id, 'ws:relay:events:' .. id}) do
    if key ~= KEYS[2] and redis.call('EXISTS', key) == 1 then used = used + 1 end
  end
end
if used >= tonumber(ARGV[5]) then return 0 end
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
return 1
"""


async def take_relay(redis: Redis, connection: Connection, max_per_user: int, slot: RelaySlot = "answer") -> str | None:
    """Make the calling relay the connection's only one in its slot; returns its token, or None when the user
    has `max_per_user` subscriptions in their other slots (across all their connections)."""
    token = uuid.uuid4().hex
    taken = await redis.eval(_TAKE_SLOT, 2, _user_key(connection.user_id), _relay_key(connection.id, slot),
                             connection.id, slot, token, str(CONNECTION_TTL_SECONDS), str(max_per_user))
    return token if taken else None


# KEYS: the slot's key. ARGV: the token. Frees the slot if it still belongs to that relay.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


async def release_relay(redis: Redis, connection_id: str, token: str, slot: RelaySlot = "answer") -> None:
    """The relay reached its stream's end: the slot no longer counts as a subscription."""
    await redis.eval(_RELEASE, 1, _relay_key(connection_id, slot), token)


async def still_relaying(redis: Redis, connection_id: str, token: str, slot: RelaySlot = "answer") -> bool:
    """False once another subscribe took over, or the client disconnected."""
    return await relay_state(redis, connection_id, token, slot) == "relaying"


RelayState = Literal["relaying", "replaced", "session_ended"]


def queue_relay_state(pipe: Pipeline, connection_id: str, slot: RelaySlot = "answer",
                      session_id: uuid.UUID | None = None) -> None:
    """Queue the reads `relay_state_of` answers from on a pipeline (a relay sends them with its XREAD, eneo.core.
    streams.EntryStream.read_then: one round trip per read instead of two)."""
    pipe.get(_relay_key(connection_id, slot))
    pipe.exists(_key(connection_id))
    if session_id is not None:
        pipe.exists(ended_key(session_id))


def relay_state_of(results: list[Any], token: str) -> RelayState:
    """What the reads `queue_relay_state` queued say (`relay_state`)."""
    current, connected, *ended = results
    current = current.decode() if isinstance(current, bytes) else current
    if not connected or current != token:
        return "replaced"
    return "session_ended" if ended and ended[0] else "relaying"


async def relay_state(redis: Redis, connection_id: str, token: str, slot: RelaySlot = "answer",
                      session_id: uuid.UUID | None = None) -> RelayState:
    """`replaced` once another subscribe took over or the client disconnected; `session_ended` once the login
    session the connection was opened with was logged out (eneo.auth.sessions.announce_ended). One round trip."""
    async with redis.pipeline(transaction=False) as pipe:
        queue_relay_state(pipe, connection_id, slot, session_id)
        return relay_state_of(await pipe.execute(), token)
