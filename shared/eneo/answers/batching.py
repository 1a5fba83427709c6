"""How an answer's text deltas become `text` entries of its stream: few Redis writes, no delta held back.

`AdaptiveBatcher` (the default) writes a delta at once when its stream is idle, and collects the deltas
that arrive while it is busy for the next write. Busy means a write is in flight, and after it a cool-down
of COOL_DOWN_FACTOR times as long as the stream's recent writes took (their median, at most MAX_COOL_DOWN):
the time writes take is what paces them. A model slower than that (the usual case: tens of tokens per
second against an XADD well under a millisecond) gets one entry per delta and no waiting; a faster one, or
a machine so busy that writes slow down (many answers at once), gets its deltas coalesced as far as the
writes lag behind, so that a loaded machine spends less of itself on writes. The median keeps one stalled
write from holding the next token back; the cap keeps any delta from waiting longer than the fixed 20 ms
interval that was the default before. One write at a time per stream keeps entries in the order of the
deltas.

Measured with bench/streaming_latency.py (100 tokens 10 ms apart, 2 cores, quiet machine, one run each):
factor 4 on the median of the last five: one stream, sent -> in Redis 0.9/2.6 ms p50/p99 (the 20 ms
interval: 10.3/13.3), 73.9 writes per answer at 50 streams against the interval's 51.1 (1.45x); a later
quiet run 1.59x (79.7 vs 50.1), the platform adding 2.4/3.8 ms per token at one stream. Factor 6 (this
code), the run after it: 69.8 vs 50.3 writes (1.39x), 1.8/3.0 ms added per token at one stream (to Redis
0.4/1.3 ms), still one write per delta at one stream (102 per answer). Factor 8: 1.14x the writes, but
0.9/8.2 ms to Redis at one stream. Factor 4 on the last write alone: 1.3-1.7x.

A fixed interval (`ANSWER_STREAM_BATCH_MS` > 0, `IntervalBatcher`) writes at most that often instead:
fewer writes for fast streams at the price of up to the interval per token. It is the batching used
before the adaptive one, kept for deployments that must cap writes per stream and as the benchmark's
baseline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any, Protocol

log = logging.getLogger("eneo.answers")

# After a write, a stream stays busy for this many times as long as its recent writes took (the median of the
# last RECENT_WRITES, so that one stalled write does not hold the next token back). Writes take a fraction of
# a millisecond on a quiet machine, far less than the time between two tokens, so no delta waits; when many
# answers load the machine, writes slow down and the longer cool-down gathers deltas into fewer writes.
COOL_DOWN_FACTOR = 6
RECENT_WRITES = 5
# No delta waits longer than the fixed interval that was the default before (ANSWER_STREAM_BATCH_MS=20).
MAX_COOL_DOWN = 0.02


class TextStream(Protocol):
    """What a batcher writes to (eneo.answers.stream.AnswerStream)."""

    async def add(self, type_: Any, data: dict[str, Any]) -> str: ...


class Batcher(Protocol):
    async def add(self, text: str) -> None:
        """Take one delta, in order."""

    async def flush(self) -> None:
        """Write whatever is pending and return once every delta taken is in the stream."""


class AdaptiveBatcher:
    """At most one write in flight, then a cool-down a few times as long as it took; what arrives meanwhile goes
    next."""

    def __init__(self, stream: TextStream) -> None:
        self.stream = stream
        self.pending: list[str] = []
        self.writes = 0
        self._writer: asyncio.Task[None] | None = None  # the one task that writes, while it runs
        self._recent: deque[float] = deque(maxlen=RECENT_WRITES)  # seconds the last writes took
        self._failure: Exception | None = None

    def cool_down(self) -> float:
        """Seconds the stream stays busy after a write: COOL_DOWN_FACTOR times the median recent write, capped."""
        recent = sorted(self._recent)
        return min(MAX_COOL_DOWN, COOL_DOWN_FACTOR * recent[len(recent) // 2]) if recent else 0.0

    def _writing(self) -> bool:
        return self._writer is not None and not self._writer.done()

    async def add(self, text: str) -> None:
        """Queue `text`; a write starts now unless one is in flight. Raises a failed earlier write's error."""
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        self.pending.append(text)
        if not self._writing():
            self._writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        """Write until nothing is pending; a failed write's text stays pending, in front, for flush()."""
        try:
            while self.pending:
                text, self.pending = "".join(self.pending), []
                started = time.monotonic()
                try:
                    await self.stream.add("text", {"text": text})
                except BaseException:
                    self.pending.insert(0, text)
                    raise
                self.writes += 1
                self._recent.append(time.monotonic() - started)
                if not self.pending:  # none came during the write: give the next ones a while to gather
                    await asyncio.sleep(self.cool_down())
        except Exception as exc:  # raised to the answer by its next add() or by flush()
            log.warning("writing to an answer stream failed", extra={"error": type(exc).__name__})
            self._failure = exc

    async def _idle(self) -> None:
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)  # a cancelled flush does not cut a write in two

    async def flush(self) -> None:
        """Return once every delta taken is in the stream; text a failed write left gets one more try."""
        await self._idle()
        self._failure = None
        if self.pending:
            self._writer = asyncio.create_task(self._write())
            await self._idle()
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure


class IntervalBatcher:
    """A `text` entry when a delta arrives at least `interval` seconds after the previous write began."""

    def __init__(self, stream: TextStream, interval: float) -> None:
        self.stream = stream
        self.interval = interval
        self.pending: list[str] = []
        self.writes = 0
        self.last_flush = 0.0

    async def add(self, text: str) -> None:
        self.pending.append(text)
        if time.monotonic() - self.last_flush >= self.interval:
            await self.flush()

    async def flush(self) -> None:
        self.last_flush = time.monotonic()  # when the flush starts: the Redis write's time is not batching time
        if self.pending:
            text, self.pending = "".join(self.pending), []
            await self.stream.add("text", {"text": text})
            self.writes += 1


def text_batcher(stream: TextStream, interval_ms: int) -> AdaptiveBatcher | IntervalBatcher:
    """The batcher `ANSWER_STREAM_BATCH_MS` asks for: 0 adapts to the stream's pace, N > 0 is a fixed interval."""
    return IntervalBatcher(stream, interval_ms / 1000) if interval_ms > 0 else AdaptiveBatcher(stream)
