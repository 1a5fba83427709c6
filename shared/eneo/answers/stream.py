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
import uuid
from typing import TYPE_CHECKING, Any, Literal

from redis.asyncio import Redis

from eneo.core import parking
from eneo.core.streams import EntryStream, decode_entry

if TYPE_CHECKING:
    from eneo.answers.cancel import CancelWatch

EntryType = Literal["first_chunk", "text", "done", "error"]


def stream_key(question_id: uuid.UUID | str) -> str:
    return f"answer:{question_id}"


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
        # The look for parked relays (eneo.core.parking) rides in the same round trip, after the write.
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
            entry = decode_entry(entry_id, fields)
            if entry.type == "text":
                parts.append(str(entry.data.get("text", "")))
            elif entry.type == "first_chunk":
                references = list(entry.data.get("references") or [])
        return "".join(parts), references
