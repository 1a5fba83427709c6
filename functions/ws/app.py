"""WebSocket function: authenticates connections and relays answer streams to them."""

from typing import Any

from eneo.core.aio import invocation, run, start_function
from eneo.realtime.handler import handle

start_function("ws")


@invocation
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return run(handle(event, context))
