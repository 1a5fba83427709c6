"""Who a WebSocket connection belongs to, from `$connect` until `$disconnect`.

Kept in Redis, not the database: a connection lives at most two hours (API Gateway's limit), is
looked up on every message, and is worthless after a restart of the gateway anyway. Only ids are
kept; the credential the client connected with is not.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

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


async def remember(redis: Redis, connection: Connection) -> None:
    value = {"tenant_id": str(connection.tenant_id), "user_id": str(connection.user_id),
             "assistant_id": str(connection.assistant_id) if connection.assistant_id else None}
    await redis.set(_key(connection.id), json.dumps(value), ex=CONNECTION_TTL_SECONDS)


async def lookup(redis: Redis, connection_id: str) -> Connection | None:
    raw = await redis.get(_key(connection_id))
    if raw is None:
        return None
    value = json.loads(raw)
    return Connection(connection_id, uuid.UUID(value["tenant_id"]), uuid.UUID(value["user_id"]),
                      uuid.UUID(value["assistant_id"]) if value.get("assistant_id") else None)


async def forget(redis: Redis, connection_id: str) -> None:
    await redis.delete(_key(connection_id))
