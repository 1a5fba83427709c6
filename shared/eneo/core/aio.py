"""Run async use cases from plain event handlers, on one event loop per warm function instance.

The database engine and the Redis client keep pools of connections bound to the loop that opened
them; `asyncio.run` would close that loop after every event and strand them. Mangum keeps one loop
for the HTTP functions in the same way.
"""

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None


def run(coro: Coroutine[Any, Any, T]) -> T:
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = asyncio.new_event_loop()
        asyncio.set_event_loop(_loop)
    return _loop.run_until_complete(coro)


def start_function(service: str) -> None:
    """What an event function does at init, as create_app does for HTTP ones: logs, then refuse weak secrets."""
    from eneo.core.logging import configure_logging
    from eneo.core.settings import get_settings

    settings = get_settings()
    configure_logging(service, settings.log_level)
    settings.require_secrets()
