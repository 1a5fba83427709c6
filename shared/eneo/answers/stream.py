"""The answer stream: one Redis stream per question, written by `complete`, read by `ws` and SSE.

Entries, in order: `first_chunk` (session, model, and the `references`: the sources the answer was
given, which it cites as [n]), `text` (a batch of deltas), then exactly one terminal entry: `done`
(token usage) or `error` (a code a client can act on, and whether a partial answer was kept).
Readers resume from any entry id, so a client that reconnects with the last id it saw loses nothing
and sees nothing twice.

Each entry is two fields: `type` and `data` (JSON). The key expires `ttl` seconds after its first
entry and again after its terminal one, so finished streams clean themselves up while staying
resumable for a while.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from redis.asyncio import Redis

from eneo.realtime import parking

if TYPE_CHECKING:
    from eneo.answers.cancel import CancelWatch

EntryType = Literal["first_chunk", "text", "done", "error"]
TERMINAL: frozenset[str] = frozenset({"done", "error"})
START = "0-0"  # read from the beginning
MAX_BLOCK_MS = 2000  # one XREAD's wait; below the Redis client's socket timeout (eneo.core.redis)


def stream_key(question_id: uuid.UUID | str) -> str:
    return f"answer:{question_id}"


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


def _decode(entry_id: Any, fields: Any) -> Entry:
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
        return _decode(*rows[0]) if rows else None

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
                return [_decode(entry_id, fields) for entry_id, fields in rows]
            if block_ms is None or time.monotonic() >= give_up:
                return []


# Append a terminal entry unless the stream already ends with one, in one step (two readers that both find a
# final question with an unfinished stream must not write two ends). ARGV: type, data, ttl, create ("1": also
# when the key does not exist). Returns the new id, or false when nothing was written.
_END_IF_OPEN = """
if ARGV[4] ~= '1' and redis.call('EXISTS', KEYS[1]) == 0 then return false end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last > 0 then
  local fields = last[1][2]
  for i = 1, #fields, 2 do
    if fields[i] == 'type' and (fields[i + 1] == 'done' or fields[i + 1] == 'error') then return false end
  end
end
local id = redis.call('XADD', KEYS[1], '*', 'type', ARGV[1], 'data', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return id
"""


class AnswerStream(EntryStream):
    """Writer and reader of `answer:{question_id}`."""

    def __init__(self, redis: Redis, question_id: uuid.UUID | str, ttl_seconds: int) -> None:
        super().__init__(redis, stream_key(question_id), ttl_seconds)
        self.question_id = question_id
        self.cancel_watch: CancelWatch | None = None  # the writer's: each write also asks whether to stop

    async def add(self, type_: EntryType, data: dict[str, Any]) -> str:
        """Append one entry; returns its id.

        The expiry is set by the first entry and pushed forward by the terminal one, not by each
        `text` entry: an answer lasts minutes at most (the function's timeout), far less than the
        TTL, and a plain XADD costs half the CPU of XADD+EXPIRE in a transaction (measured: 62 vs
        123 us), which counts when many answers stream at once. Relays parked on the stream are woken.
        """
        fields = {"type": type_, "data": json.dumps(data, ensure_ascii=False)}
        # The look for parked relays (eneo.realtime.parking) rides in the same round trip, after the write.
        async with self.redis.pipeline(transaction=type_ != "text") as pipe:
            pipe.xadd(self.key, fields)  # type: ignore[arg-type]
            if type_ != "text":
                pipe.expire(self.key, self.ttl)
            if self.cancel_watch is not None:  # the asker's stop, learnt without a round trip of its own
                pipe.exists(self.cancel_watch.key)
            parking.parked_flag(pipe, self.key)
            result = await pipe.execute()
        if self.cancel_watch is not None:
            self.cancel_watch.observe(result[-2])
        if result[-1]:
            await parking.wake(self.redis, self.key)
        entry_id = result[0]
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def end(self, type_: Literal["done", "error"], data: dict[str, Any], *, create: bool = False) -> str | None:
        """Write the terminal entry unless the stream has one already; the new id, or None if it had.

        Used where the writer may have died before its own terminal entry (a crash, Redis gone at the
        moment it wrote): whoever finds the answer final in the database ends the stream. Without
        `create`, a stream that no longer exists (expired) stays gone.
        """
        data_json = json.dumps(data, ensure_ascii=False)
        result: Any = await self.redis.eval(
            _END_IF_OPEN, 1, self.key, type_, data_json, str(self.ttl), "1" if create else "0")
        if not result:
            return None
        await parking.wake(self.redis, self.key)
        return result.decode() if isinstance(result, bytes) else str(result)

    async def written_text(self) -> tuple[str, list[dict[str, Any]]]:
        """The answer text the stream holds (its `text` entries, in order) and the `first_chunk`'s references:
        what a client already saw of an answer whose writer died."""
        rows: Any = await self.redis.xrange(self.key)
        parts: list[str] = []
        references: list[dict[str, Any]] = []
        for entry_id, fields in rows:
            entry = _decode(entry_id, fields)
            if entry.type == "text":
                parts.append(str(entry.data.get("text", "")))
            elif entry.type == "first_chunk":
                references = list(entry.data.get("references") or [])
        return "".join(parts), references
