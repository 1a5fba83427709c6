"""Redis streams of `type`/`data` entries, and their reader: an answer (eneo.answers.stream) or a user's
status events (eneo.core.user_events) are both one of these.

Each entry is two fields: `type` and `data` (JSON). Readers resume from any entry id, so a client that
reconnects with the last id it saw loses nothing and sees nothing twice. A stream ends with a terminal
entry (`done` or `error`) or never (a user's events).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

TERMINAL: frozenset[str] = frozenset({"done", "error"})
START = "0-0"  # read from the beginning
MAX_BLOCK_MS = 2000  # one XREAD's wait; below the Redis client's socket timeout (eneo.core.redis)


@dataclass(frozen=True)
class Entry:
    id: str
    type: str
    data: dict[str, Any]

    @property
    def terminal(self) -> bool:
        return self.type in TERMINAL

    def as_message(self, question_id: uuid.UUID | str) -> dict[str, Any]:
        """The shape clients get over the WebSocket: one JSON object per entry."""
        return {"type": self.type, "id": self.id, "question_id": str(question_id), **self.data}


def decode_entry(entry_id: Any, fields: Any) -> Entry:
    """One XREAD/XRANGE row; typed loosely because redis-py's types cover RESP2 and RESP3 at once."""
    def text(value: Any) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    values = {text(k): text(v) for k, v in fields.items()}
    return Entry(text(entry_id), values.get("type", ""), json.loads(values.get("data") or "{}"))


def coalesce(entries: list[Entry]) -> list[Entry]:
    """Consecutive `text` entries as one, carrying the last one's id (so resuming from it loses nothing).

    A reader that fell behind (a busy relay) then sends one frame for what piled up instead of one
    per entry: it catches up with fewer sends, and a reader that keeps up is not delayed at all.
    """
    out: list[Entry] = []
    for entry in entries:
        if out and entry.type == "text" and out[-1].type == "text":
            out[-1] = Entry(entry.id, "text", {**entry.data, "text": out[-1].data["text"] + entry.data["text"]})
        else:
            out.append(entry)
    return out


_ENTRY_ID = re.compile(r"([0-9]{1,20})-([0-9]{1,20})")
_MAX_PART = 2**64 - 1


def valid_entry_id(value: str) -> bool:
    """Redis stream ids are `<ms>-<seq>`, two unsigned 64-bit numbers; anything else from a client is
    refused before Redis sees it (Redis would answer with an error, a 500 for the client)."""
    match = _ENTRY_ID.fullmatch(value)
    return match is not None and all(int(part) <= _MAX_PART for part in match.groups())


def entry_order(entry_id: str) -> tuple[int, int]:
    """Sort key of a valid entry id (ids compare numerically, not as text)."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class EntryStream:
    """Reader of one Redis stream of `type`/`data` entries: an answer, or a user's status events."""

    def __init__(self, redis: Redis, key: str, ttl_seconds: int) -> None:
        self.redis = redis
        self.key = key
        self.ttl = ttl_seconds

    async def exists(self) -> bool:
        return bool(await self.redis.exists(self.key))

    async def last(self) -> Entry | None:
        rows: Any = await self.redis.xrevrange(self.key, count=1)
        return decode_entry(*rows[0]) if rows else None

    async def end_already_read(self, after: str) -> Entry | None:
        """The terminal entry, if a reader who has everything up to `after` already has it."""
        last = await self.last()
        if last is not None and last.terminal and entry_order(last.id) <= entry_order(after):
            return last
        return None

    async def read(self, after: str = START, *, block_ms: int | None = None, count: int = 500) -> list[Entry]:
        """Entries after `after`; waits up to `block_ms` for the first one when none is there yet.

        Long waits are cut into XREADs of at most MAX_BLOCK_MS, each shorter than the client's
        socket timeout, so a quiet stream never reads as a dead connection.
        """
        give_up = time.monotonic() + (block_ms or 0) / 1000
        while True:
            block = None if block_ms is None else max(min(int((give_up - time.monotonic()) * 1000), MAX_BLOCK_MS), 1)
            result: Any = await self.redis.xread({self.key: after}, count=count, block=block)
            if result:
                _, rows = result[0]
                return [decode_entry(entry_id, fields) for entry_id, fields in rows]
            if block_ms is None or time.monotonic() >= give_up:
                return []

    async def read_then(self, after: str, then: Callable[[Pipeline], None], *, block_ms: int,
                        count: int = 500) -> tuple[list[Entry], list[Any]]:
        """`read` (waiting up to `block_ms`), and the results of the commands `then` queues, sent in the same round
        trip: Redis runs them as soon as the XREAD returns, so a caller that must look at something after every
        read (a relay: is its subscription still current?) pays one round trip per read, not two."""
        give_up = time.monotonic() + block_ms / 1000
        while True:
            block = max(min(int((give_up - time.monotonic()) * 1000), MAX_BLOCK_MS), 1)
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.xread({self.key: after}, count=count, block=block)
                then(pipe)
                result, *rest = await pipe.execute()
            if result:
                _, rows = result[0] if isinstance(result, list) else next(iter(result.items()))
                return [decode_entry(entry_id, fields) for entry_id, fields in rows], rest
            if time.monotonic() >= give_up:
                return [], rest
