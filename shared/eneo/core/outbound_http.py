"""An HTTP transport that connects only where eneo.core.outbound permits, checked at the moment it connects.

Checking a URL when it is saved is not enough: a name can resolve to a public address then and to 127.0.0.1 a
minute later (DNS rebinding), and a server can redirect. So every new connection goes through `GuardedBackend`: it
resolves the host itself, keeps the permitted addresses and connects to one of those, the address it checked (TLS
still verifies the certificate against the host name). A host with no permitted address raises OutboundRefused
before any packet is sent to it, whatever the port, so a refusal tells nothing about which ports are open.

Separate from eneo.core.outbound because httpx2/httpcore2 take about 0.4 s to import, paid only by the first
provider call. Used by the openai and anthropic SDK clients (eneo.llm) and so by embeddings and transcriptions.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import anyio
import httpcore2
import httpx2
from httpcore2 import AsyncNetworkBackend, AsyncNetworkStream

from eneo.core.outbound import AllowList, IPAddress, allow_list, permitted, resolve

Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]


class GuardedBackend(AsyncNetworkBackend):
    """httpcore2's network backend with the outbound rule applied to each connection's resolved addresses."""

    def __init__(self, resolver: Resolver = resolve, allow: Callable[[], AllowList] = allow_list) -> None:
        self._resolve, self._allow = resolver, allow
        self._backend = httpcore2.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,  # noqa: ASYNC109 - httpcore's API
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await self._resolve(host, port)
        except TimeoutError:
            raise httpcore2.ConnectTimeout(f"resolving {host} timed out") from None
        except OSError as exc:
            raise httpcore2.ConnectError(f"{host} cannot be resolved ({exc})") from None
        failure: Exception | None = None
        for address in permitted(host, addresses, self._allow()):  # OutboundRefused when none is
            try:
                return await self._backend.connect_tcp(str(address), port, timeout=timeout,
                                                       local_address=local_address, socket_options=socket_options)
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                failure = exc  # try the next address, as a resolver's list is meant to be used
        assert failure is not None
        raise failure

    async def connect_unix_socket(self, path: str, timeout: float | None = None,  # noqa: ASYNC109 - httpcore's API
                                  socket_options: Iterable[Any] | None = None) -> AsyncNetworkStream:
        raise httpcore2.ConnectError("outbound connections go to TCP hosts only")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class GuardedTransport(httpx2.AsyncHTTPTransport):
    """httpx2's default transport (TLS verification, limits, keep-alive) over a GuardedBackend; no proxies."""

    def __init__(self, limits: httpx2.Limits, backend: AsyncNetworkBackend | None = None) -> None:
        super().__init__(limits=limits)
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(), max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend or GuardedBackend())
