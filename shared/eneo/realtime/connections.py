"""Who a WebSocket connection belongs to, from `$connect` until `$disconnect`.

Kept in Redis, not the database: a connection lives at most two hours (API Gateway's limit), is
looked up on every message, and is worthless after a restart of the gateway anyway. Only ids are
kept; the credential the client connected with is not.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Literal

from redis.asyncio import Redis

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


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


async def remember(redis: Redis, connection: Connection) -> None:
    value = {"tenant_id": str(connection.tenant_id), "user_id": str(connection.user_id),
             "assistant_id": str(connection.assistant_id) if connection.assistant_id else None,
             "key_id": str(connection.key_id) if connection.key_id else None, "generation": connection.generation}
    await redis.set(_key(connection.id), json.dumps(value), ex=CONNECTION_TTL_SECONDS)


async def lookup(redis: Redis, connection_id: str) -> Connection | None:
    raw = await redis.get(_key(connection_id))
    if raw is None:
        return None
    value = json.loads(raw)
    return Connection(connection_id, uuid.UUID(value["tenant_id"]), uuid.UUID(value["user_id"]),
                      _uuid(value.get("assistant_id")), _uuid(value.get("key_id")), value.get("generation"))


async def forget(redis: Redis, connection_id: str) -> None:
    await redis.delete(_key(connection_id), *(_relay_key(connection_id, slot) for slot in SLOTS))


# One relay per connection: a new `subscribe` takes over, and the relay it replaces stops at its
# next read. Without this, one client sending many subscribes would hold as many function instances.

# A connection has one slot per kind of stream: an answer, and the user's status events.
RelaySlot = Literal["answer", "events"]
SLOTS: tuple[RelaySlot, ...] = ("answer", "events")


def _relay_key(connection_id: str, slot: RelaySlot = "answer") -> str:
    return f"ws:relay:{connection_id}" if slot == "answer" else f"ws:relay:{slot}:{connection_id}"


async def take_relay(redis: Redis, connection_id: str, ttl_seconds: int, slot: RelaySlot = "answer") -> str:
    """Make the calling relay the connection's only one in its slot; returns its token."""
    token = uuid.uuid4().hex
    await redis.set(_relay_key(connection_id, slot), token, ex=ttl_seconds)
    return token


async def still_relaying(redis: Redis, connection_id: str, token: str, slot: RelaySlot = "answer") -> bool:
    """False once another subscribe took over, or the client disconnected."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(_relay_key(connection_id, slot))
        pipe.exists(_key(connection_id))
        current, connected = await pipe.execute()
    current = current.decode() if isinstance(current, bytes) else current
    return bool(connected) and current == token
