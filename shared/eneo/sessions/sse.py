"""An answer stream as Server-Sent Events, in polls that fit a buffered gateway.

Mangum (and API Gateway's Lambda proxy integration) return a response only when it is complete,
so one response cannot stay open for a whole answer. Each request therefore returns what the
stream holds after `Last-Event-ID`: it waits up to `sse_wait_seconds` for the first entry, then
keeps collecting for `sse_linger_ms` (or until the terminal entry) and ends with `retry:`, so an
EventSource reconnects at once with the last id it saw and loses nothing. Once the client has the
terminal entry, the next request gets 204 No Content, which tells an EventSource to stop. Where the
platform can stream a response (a response-streaming function URL), the same generator of events
can be sent as it is read.
"""

from __future__ import annotations

import json
import time

from eneo.answers.stream import AnswerStream
from eneo.core.streams import START, Entry

RETRY_MS = 250


def format_event(entry: Entry, question_id: str) -> str:
    data = json.dumps(entry.as_message(question_id), ensure_ascii=False)
    return f"id: {entry.id}\nevent: {entry.type}\ndata: {data}\n\n"


async def poll(stream: AnswerStream, after: str | None, *, wait_seconds: float, linger_ms: int,
               finished: bool) -> str | None:
    """The SSE body for one poll, or None when the client already has everything (204).

    `finished` says whether the question is completed or failed in the database, which tells an
    expired stream (nothing will come: None) from one that has not started yet (keep polling).
    """
    after = after or START
    entries = await stream.read(after)
    if not entries:
        if finished and not await stream.exists():
            return None  # the stream expired; the answer is in the question itself
        if await stream.end_already_read(after):
            return None  # the client has the terminal entry
        entries = await stream.read(after, block_ms=int(wait_seconds * 1000))
    if not entries:
        return f"retry: {RETRY_MS}\n: waiting for the answer\n\n"
    give_up = time.monotonic() + linger_ms / 1000
    while not entries[-1].terminal and (remaining := give_up - time.monotonic()) > 0:
        more = await stream.read(entries[-1].id, block_ms=max(int(remaining * 1000), 1))
        if not more:
            break
        entries += more
    question_id = str(stream.question_id)
    return f"retry: {RETRY_MS}\n\n" + "".join(format_event(e, question_id) for e in entries)
