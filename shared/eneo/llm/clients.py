"""One SDK client per provider account and event loop, reused across calls.

A warm function instance then keeps its TLS connections to the provider. Clients are per event loop
because their connection pools are bound to the loop that opened them: a handler that runs each event
in a fresh loop gets fresh clients, and the old ones go with their loop. The key holds a hash of the
API key, so a rotated key gets a new client and the cache holds no second copy of the secret.
"""

import asyncio
import hashlib
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from eneo.llm.types import ProviderConfig

T = TypeVar("T")
MAX_CLIENTS = 32  # per loop; least recently used clients beyond this are closed

_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, OrderedDict[Hashable, Any]]" = (
    weakref.WeakKeyDictionary())
_closing: set["asyncio.Task[None]"] = set()


def client_key(config: ProviderConfig) -> tuple[Hashable, ...]:
    digest = hashlib.sha256(config.api_key.encode()).hexdigest() if config.api_key else None
    return (config.type, config.base_url, config.endpoint, config.api_version, digest, config.managed)


def cached_client(config: ProviderConfig, build: Callable[[], T]) -> T:
    """The client for `config` on the running loop, built by `build()` the first time."""
    loop = asyncio.get_running_loop()
    clients = _clients.setdefault(loop, OrderedDict())
    key = client_key(config)
    if key in clients:
        clients.move_to_end(key)
        return clients[key]
    client = clients[key] = build()
    while len(clients) > MAX_CLIENTS:
        _, old = clients.popitem(last=False)
        task = loop.create_task(old.close())
        _closing.add(task)
        task.add_done_callback(_closing.discard)
    return client


async def close_clients() -> None:
    """Close the running loop's clients (tests, graceful shutdown)."""
    clients = _clients.pop(asyncio.get_running_loop(), OrderedDict())
    for client in clients.values():
        await client.close()
