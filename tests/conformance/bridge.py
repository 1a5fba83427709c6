"""Make the test run's own services reachable from SAM CLI's containers.

The local stack's Postgres and Redis listen on Unix sockets and its S3/SQS, Lambda Invoke and @connections
APIs on 127.0.0.1: a container on Docker's bridge network reaches none of them. SAM CLI cannot put a
container on the host's network (`--docker-network host` leaves it on the bridge, and every container's
emulator would want the same port there), so each service gets a TCP listener on the bridge's gateway
address, the address by which containers reach this machine, and every connection is piped to the service.
Postgres and Redis see a local connection, as they do from the local stack's own functions.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

Connect = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


class Bridge:
    """TCP listeners on `host` (the Docker bridge's gateway) that forward to local services."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="bridge", daemon=True)
        self._servers: list[asyncio.base_events.Server] = []
        self._thread.start()

    def tcp(self, host: str, port: int) -> int:
        """A listener forwarding to host:port; the port containers use."""
        return self._listen(lambda: asyncio.open_connection(host, port))

    def unix(self, path: str) -> int:
        """A listener forwarding to a Unix socket; the port containers use."""
        return self._listen(lambda: asyncio.open_unix_connection(path))

    def url(self, url: str) -> str:
        """The URL a container uses for a service the tests reach at `url` (http, redis, postgresql)."""
        parts = urlsplit(url)
        if parts.scheme == "unix":  # redis over a Unix socket: unix:///path/redis.sock?db=0
            db = parse_qs(parts.query).get("db", ["0"])[0]
            return f"redis://{self.host}:{self.unix(parts.path)}/{db}"
        query = parse_qs(parts.query)
        if parts.scheme.startswith("postgresql") and "host" in query:  # ...@/eneo?host=/socket/dir
            socket_dir = query.pop("host")[0]
            port = query.pop("port", ["5432"])[0]
            forwarded = self.unix(f"{socket_dir}/.s.PGSQL.{port}")
            rest = "&".join(f"{k}={quote(v[0])}" for k, v in query.items())
            user = parts.netloc.rstrip("@").split("@")[0] if "@" in parts.netloc else parts.netloc
            return urlunsplit((parts.scheme, f"{user}@{self.host}:{forwarded}", parts.path, rest, ""))
        assert parts.hostname in ("127.0.0.1", "localhost") and parts.port, url
        netloc = f"{self.host}:{self.tcp(parts.hostname, parts.port)}"
        if parts.username:
            netloc = f"{parts.username}{':' + parts.password if parts.password else ''}@{netloc}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    def _listen(self, connect: Connect) -> int:
        async def start() -> asyncio.base_events.Server:
            return await asyncio.start_server(lambda r, w: self._pipe(r, w, connect), self.host, 0)

        server = asyncio.run_coroutine_threadsafe(start(), self._loop).result(10)
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, connect: Connect) -> None:
        try:
            upstream_reader, upstream_writer = await connect()
        except OSError:
            writer.close()
            return

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    dst.write_eof() if dst.can_write_eof() else dst.close()

        await asyncio.gather(copy(reader, upstream_writer), copy(upstream_reader, writer))
        for w in (writer, upstream_writer):
            w.close()

    def close(self) -> None:
        async def stop() -> None:
            for server in self._servers:
                server.close()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
