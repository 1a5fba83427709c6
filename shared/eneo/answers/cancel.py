"""Stopping an answer: the asker's cancel reaches the run that streams it through one Redis key.

`POST /api/v1/questions/{id}/cancel/` sets `answer-cancel:{question_id}`. A question still `queued` is
cancelled by the route itself (nothing streams it yet: `complete`'s claim then finds nothing to claim). One
that streams is stopped by its writer (`complete`, or the sessions function for `stream: false`), which must
notice the key promptly without a Redis round trip per token:

* each `text` write asks for the key in the same pipeline as its XADD (no extra round trip while text flows);
* a watcher asks on its own only when no write has asked for `CHECK_INTERVAL` (a slow or silent provider,
  the wait before the first token), so a cancel is noticed within about that interval either way.

Noticing it cancels the task that reads the provider, which closes the provider's stream (its HTTP response):
no more tokens are generated for nobody. The writer then saves the text it streamed as the answer, status
`cancelled`, and ends the stream with an `error` entry `answer_cancelled` (`partial` when text was kept).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Coroutine
from typing import Any

from redis.asyncio import Redis

log = logging.getLogger("eneo.answers")

CODE = "answer_cancelled"
MESSAGE = "The answer was stopped at the asker's request; the part that arrived is kept"
CHECK_INTERVAL = 0.25  # seconds: the longest a cancel waits to be noticed while nothing is written
KEY_TTL_SECONDS = 15 * 60  # longer than any answer runs (complete's timeout is 300 s)


def cancel_key(question_id: uuid.UUID | str) -> str:
    return f"answer-cancel:{question_id}"


async def request(redis: Redis, question_id: uuid.UUID | str) -> None:
    """Ask whoever streams the answer to stop (idempotent)."""
    await redis.set(cancel_key(question_id), "1", ex=KEY_TTL_SECONDS)


async def requested(redis: Redis, question_id: uuid.UUID | str) -> bool:
    return bool(await redis.exists(cancel_key(question_id)))


class CancelWatch:
    """Whether the asker asked to stop one answer, learnt from the stream's writes or by asking Redis."""

    def __init__(self, redis: Redis, question_id: uuid.UUID | str, interval: float = CHECK_INTERVAL) -> None:
        self.redis = redis
        self.key = cancel_key(question_id)
        self.interval = interval
        self.checked_at = time.monotonic()
        self.own_checks = 0  # round trips of the watcher itself (the cost while nothing is written)
        self._requested = asyncio.Event()

    @property
    def is_requested(self) -> bool:
        return self._requested.is_set()

    def observe(self, exists: Any) -> None:
        """The answer of a check made elsewhere (a write's pipeline)."""
        self.checked_at = time.monotonic()
        if exists:
            self._requested.set()

    async def _watch(self) -> None:
        while not self._requested.is_set():
            wait = self.checked_at + self.interval - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
                continue
            self.own_checks += 1
            try:
                self.observe(await self.redis.exists(self.key))
            except Exception as exc:  # Redis trouble must not stop the answer: its writes report it
                log.warning("checking for a cancel failed", extra={"error": type(exc).__name__})
                self.checked_at = time.monotonic()

    async def run(self, work: Coroutine[Any, Any, None]) -> bool:
        """Run `work` in this task until it ends (True; its exception is raised) or a cancel is noticed (False:
        `work` was cancelled, which closes what it reads). `work` stays in the calling task: run as a task of its
        own, the provider's stream hung at its end in the local stack's workers."""
        me = asyncio.current_task()
        assert me is not None
        stopped = False

        async def watch() -> None:
            nonlocal stopped
            await self._watch()
            stopped = True
            me.cancel()

        watcher = asyncio.ensure_future(watch())
        try:
            await work
        except asyncio.CancelledError:
            if not stopped:
                raise
            me.uncancel()
            return False
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if stopped:  # noticed just as the work ended: the cancel of this task is still pending
            me.uncancel()
        return True
