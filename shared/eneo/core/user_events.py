"""Each user's status events: one Redis stream, `events:{user_id}`, relayed by the `ws` function.

Background work a user started (a document being ingested, a collection re-embedded) reports its
progress here, so a browser sees `processing → embedding → ready` without polling. Entries are the
same `type`/`data` pairs as an answer stream, so one reader serves both. The stream never ends:
it is capped (only the newest events matter) and expires when nothing happened for a while.
HTTP stays the source of truth: a client that missed events reads the current state there.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from redis.asyncio import Redis

from eneo.core import parking
from eneo.core.streams import EntryStream

MAX_EVENTS = 1000  # per user; a client further behind than this reads the state over HTTP


def events_key(user_id: uuid.UUID | str) -> str:
    return f"events:{user_id}"


class UserEvents(EntryStream):
    """Writer and reader of `events:{user_id}`."""

    def __init__(self, redis: Redis, user_id: uuid.UUID | str, ttl_seconds: int) -> None:
        super().__init__(redis, events_key(user_id), ttl_seconds)
        self.user_id = user_id

    async def publish(self, type_: str, data: dict[str, Any]) -> str:
        """Append one event (trimming the oldest past MAX_EVENTS) and push the expiry forward."""
        fields = {"type": type_, "data": json.dumps(data, ensure_ascii=False, default=str)}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(self.key, fields, maxlen=MAX_EVENTS, approximate=True)  # type: ignore[arg-type]
            pipe.expire(self.key, self.ttl)
            parking.parked_flag(pipe, self.key)
            entry_id, _, parked = await pipe.execute()
        if parked:
            await parking.wake(self.redis, self.key)  # the user's relays that parked while nothing happened
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
