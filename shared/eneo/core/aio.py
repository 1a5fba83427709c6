"""How every event function runs: one event loop per warm instance, a request id per invocation, one deadline.

The database engine and the Redis client keep pools of connections bound to the loop that opened
them; `asyncio.run` would close that loop after every event and strand them. Mangum keeps one loop
for the HTTP functions in the same way.

An HTTP function's log lines carry the request's id (eneo.core.http); an event function's carry its
invocation's (`context.aws_request_id`), set by `@invocation` around the handler, so the lines of one
ingest batch or one answer can be told from the next one's on the same warm instance.

    @invocation
    def handler(event, context):
        return run(use_case(event, deadline=deadline(context)))
"""

import asyncio
import functools
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from eneo.core.logging import request_id_var

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to its end on the instance's loop (its task copies the caller's context: the request id)."""
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
        asyncio.set_event_loop(_loop)
    return _loop.run_until_complete(coro)


def invocation(handler: Callable[[Any, Any], T]) -> Callable[[Any, Any], T]:
    """An event function's handler whose log lines all carry its invocation's request id (the Lambda
    context's `aws_request_id`; a new one when there is none)."""
    @functools.wraps(handler)
    def handle(event: Any, context: Any) -> T:
        token = request_id_var.set(str(getattr(context, "aws_request_id", None) or uuid.uuid4()))
        try:
            return handler(event, context)
        finally:
            request_id_var.reset(token)

    return handle


def deadline(context: Any) -> float:
    """The `time.monotonic()` value at which Lambda stops this invocation (from the context's remaining time)."""
    return time.monotonic() + context.get_remaining_time_in_millis() / 1000


def start_function(service: str) -> None:
    """What an event function does at init, as create_app does for HTTP ones: logs, then refuse weak secrets."""
    from eneo.core.logging import configure_logging
    from eneo.core.settings import get_settings

    settings = get_settings()
    configure_logging(service, settings.log_level)
    settings.require_secrets()
