"""The local API Gateway WebSocket API: connections, route selection, and `@connections`.

Served by its own uvicorn server on its own port, as AWS serves a WebSocket API on its own
domain: clients connect to `ws://127.0.0.1:<port>/<stage>`, functions manage connections over
HTTP at `http://127.0.0.1:<port>/<stage>/@connections/<id>` (boto3's `apigatewaymanagementapi`
with that endpoint_url works unchanged). As on AWS, `@connections` requests must be SigV4-signed with the stack's
credentials (eneo_local.sigv4, so any correct signer passes): anything else is refused 403, so no one else on the
machine can inject frames into a user's socket, read its details or close it.

What API Gateway does, done here:
- `$connect`: the route's function gets a CONNECT event (the only one with the query string);
  the socket is accepted only when it answers statusCode 2xx, otherwise the handshake is answered
  with that status (502 on a function error, 504 on the 29 s integration timeout). A
  `Sec-WebSocket-Protocol` header in its answer picks the subprotocol. Without a `$connect`
  route every connection is accepted.
- Messages: `RouteSelectionExpression` (`$request.body.<path>`) picks the route from a JSON body;
  a body that is not JSON, or a value no route has, goes to `$default`; with no `$default` the
  client gets `{"message": "Forbidden", ...}`. Invokes of one connection run concurrently. A
  function error sends `{"message": "Internal server error", ...}`, an invoke still running after
  29 s `{"message": "Endpoint request timed out", ...}` (the function runs on, as on AWS). Route
  responses are not emulated: what a route's function returns is discarded (AWS does the same for
  a route without a RouteResponse). Messages over 128 KB close the connection with 1009, binary
  frames with 1003 (AWS's WebSocket APIs accept text frames only).
- `$disconnect` is invoked once, when the client closes, the connection is deleted, or it times
  out; with `disconnectStatusCode` and `disconnectReason`.
- `@connections/<id>`: POST sends the body as one frame (text when it is UTF-8, else binary;
  frames for one connection leave in the order their POSTs arrived), GET describes the connection,
  DELETE closes it; a connection that is gone answers 410 GoneException.
- As on AWS, a connection idle for 10 minutes, or open for 2 hours, is closed (1001).

Header names reach the functions in their usual capitalisation (`Sec-WebSocket-Key`, `User-Agent`):
ASGI servers lower-case them, AWS passes what the client sent; read them case-insensitively.
One JSON log line per connect, message and disconnect, with ids and outcomes, never bodies,
headers or query strings (a token in the query string is common).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from eneo_local.gateway import read_body
from eneo_local.http_events import clf_time
from eneo_local.sigv4 import Credentials, SignatureRefused, verify_asgi
from eneo_local.template import StackTemplate, WebSocketApiSpec
from eneo_local.workers import FunctionHost, Invocation

log = logging.getLogger("eneo_local.websocket")

MAX_MESSAGE_BYTES = 128 * 1024  # API Gateway's WebSocket message payload limit
INTEGRATION_TIMEOUT = 29.0  # seconds
IDLE_SECONDS = 600.0  # API Gateway closes a connection idle for 10 minutes ...
MAX_CONNECTION_SECONDS = 7200.0  # ... and any connection after 2 hours
GOING_AWAY = 1001
# How uvicorn serves this app: AWS's message limit (larger ones close with 1009), and no uvicorn
# log lines of its own (they would carry the query string, where clients often put a token).
SERVER_OPTIONS: dict[str, Any] = {"ws": "websockets-sansio", "ws_max_size": MAX_MESSAGE_BYTES, "log_level": "warning"}

Scope = dict[str, Any]
_UPPER = {"websocket": "WebSocket", "ip": "IP", "id": "ID"}


class _RefusalIsNotAnError(logging.Filter):
    """uvicorn's sans-I/O WebSocket protocol logs an ERROR when an app answers the handshake with an
    HTTP response (ASGI's `websocket.http.response`), which is how $connect refusals are answered."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing handshake" not in record.getMessage()


def _quiet_refusals() -> None:
    uvicorn_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _RefusalIsNotAnError) for f in uvicorn_log.filters):
        uvicorn_log.addFilter(_RefusalIsNotAnError())


def select_api(template: StackTemplate, api: str | None = None) -> WebSocketApiSpec:
    if api is not None:
        return template.websocket_apis[api]
    if len(template.websocket_apis) != 1:
        raise ValueError(f"the template has {len(template.websocket_apis)} WebSocket APIs; choose one")
    return next(iter(template.websocket_apis.values()))


def aws_id() -> str:
    """Connection, request and message ids look like API Gateway's: `L0SM9cOFvHcCIhw=`."""
    return base64.urlsafe_b64encode(secrets.token_bytes(11)).decode()


def canonical_header(name: str) -> str:
    return "-".join(_UPPER.get(part, part.capitalize()) for part in name.split("-"))


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Connection:
    """One open client connection, and what `@connections` and the event need of it."""

    id: str
    send: Any  # the ASGI send callable
    source_ip: str
    user_agent: str
    connected_at: float  # epoch seconds
    last_active: float = field(default_factory=time.time)
    open: bool = True
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # FIFO: frames leave in the order asked

    async def deliver(self, text: str | None = None, data: bytes | None = None) -> bool:
        """One frame to the client; False when the connection is gone."""
        async with self.lock:
            if not self.open:
                return False
            message = {"type": "websocket.send", "text": text} if text is not None else \
                {"type": "websocket.send", "bytes": data}
            try:
                await self.send(message)
            except (OSError, RuntimeError):  # uvicorn's ClientDisconnected is an OSError
                self.open = False
                return False
            self.last_active = time.time()
            return True

    async def close(self, code: int, reason: str = "") -> None:
        async with self.lock:
            if not self.open:
                return
            self.open = False
            with contextlib.suppress(OSError, RuntimeError):
                await self.send({"type": "websocket.close", "code": code, "reason": reason})


class WebSocketGateway:
    """ASGI app serving one WebSocket API of the template and its management API."""

    def __init__(self, template: StackTemplate, functions: FunctionHost, api: str | None = None, *,
                 integration_timeout: float = INTEGRATION_TIMEOUT, idle_seconds: float = IDLE_SECONDS,
                 max_seconds: float = MAX_CONNECTION_SECONDS, credentials: Credentials | None = None) -> None:
        self.api = select_api(template, api)
        self.credentials = credentials or Credentials.from_env()  # who may use @connections
        self.template = template
        self.functions = functions
        self.integration_timeout = integration_timeout
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds
        self.connections: dict[str, Connection] = {}
        self._inflight: set[asyncio.Task[Any]] = set()
        self._selection = self.api.selection_path
        _quiet_refusals()

    @property
    def stage(self) -> str:
        return self.api.stage

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            await self._connection(scope, receive, send)
        elif scope["type"] == "http":
            await self._manage(scope, receive, send)

    # Invoking functions ----------------------------------------------------------------------

    async def _invoke(self, route_key: str, event: dict[str, Any], request_id: str) -> Invocation | None:
        """The route's function's outcome; None when it outlived the integration timeout (it runs on,
        and the worker stays in step with its pipe)."""
        function = self.api.routes[route_key]
        task = asyncio.get_running_loop().create_task(self.functions.invoke(function, event, request_id))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.integration_timeout)
        except TimeoutError:
            return None

    def _context(self, conn_id: str, connected_at: float, route_key: str, event_type: str, request_id: str,
                 domain: str, source_ip: str, user_agent: str) -> dict[str, Any]:
        now = time.time()
        return {
            "routeKey": route_key,
            "eventType": event_type,
            "extendedRequestId": request_id,
            "requestTime": clf_time(now),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": int(connected_at * 1000),
            "requestTimeEpoch": int(now * 1000),
            "identity": {"sourceIp": source_ip, "userAgent": user_agent},
            "requestId": request_id,
            "domainName": domain,
            "connectionId": conn_id,
            "apiId": self.api.api_id,
        }

    # A connection's life ---------------------------------------------------------------------

    async def _connection(self, scope: Scope, receive: Any, send: Any) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        if scope["path"].rstrip("/") != f"/{self.stage}":
            await _refuse(scope, send, 403, json.dumps({"message": "Forbidden"}).encode())
            return
        t0 = time.perf_counter()
        conn_id, request_id, connected_at = aws_id(), aws_id(), time.time()
        pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", [])]
        headers = {k: v for k, v in pairs}
        source_ip = (scope.get("client") or ("127.0.0.1", 0))[0]
        user_agent = headers.get("user-agent", "")
        domain = (headers.get("host") or "127.0.0.1").rsplit(":", 1)[0]
        event = _connect_event(pairs, scope.get("query_string", b"").decode("latin-1"), scope, source_ip)
        event["requestContext"] = self._context(conn_id, connected_at, "$connect", "CONNECT", request_id,
                                                domain, source_ip, user_agent)
        status, subprotocol, body, outcome = 200, None, b"", "accepted"
        if "$connect" in self.api.routes:
            status, subprotocol, body, outcome = _connect_answer(await self._invoke("$connect", event, request_id))
        log.info("ws connect", extra={
            "connection_id": conn_id, "status": status, "outcome": outcome, "request_id": request_id,
            "ms": round((time.perf_counter() - t0) * 1000, 1)})
        if not 200 <= status < 300:
            await _refuse(scope, send, status, body)
            return
        accept: dict[str, Any] = {"type": "websocket.accept"}
        if subprotocol:
            accept["subprotocol"] = subprotocol
        conn = Connection(conn_id, send, source_ip, user_agent, connected_at)
        self.connections[conn_id] = conn
        watchdog = asyncio.get_running_loop().create_task(self._watch(conn))
        code, reason, messages = 1006, "", 0  # 1006 stays if the client left during the handshake
        try:
            # OSError: uvicorn's ClientDisconnected, the client gone before the accept reached it.
            with contextlib.suppress(OSError):
                await send(accept)
                while True:
                    message = await receive()
                    if message["type"] == "websocket.disconnect":
                        code, reason = int(message.get("code") or 1005), str(message.get("reason") or "")
                        break
                    if message["type"] != "websocket.receive":
                        continue
                    conn.last_active = time.time()
                    text = message.get("text")
                    if text is None:  # a binary frame: API Gateway closes the connection
                        await conn.close(1003, "Binary frames are not supported")
                        continue
                    messages += 1
                    self._spawn_message(conn, text, domain)
        finally:
            conn.open = False
            self.connections.pop(conn_id, None)
            watchdog.cancel()
            event = {"headers": {"Host": domain}, "multiValueHeaders": {"Host": [domain]},
                     "isBase64Encoded": False}
            event["requestContext"] = self._context(conn_id, connected_at, "$disconnect", "DISCONNECT", aws_id(),
                                                    domain, source_ip, user_agent)
            event["requestContext"] |= {"disconnectStatusCode": code, "disconnectReason": reason}
            outcome = "-"
            if "$disconnect" in self.api.routes:
                # shielded: a server shutting down must not cancel the one $disconnect halfway
                done = await asyncio.shield(self._invoke("$disconnect", event, event["requestContext"]["requestId"]))
                outcome = done.status if done is not None else "integration_timeout"
            log.info("ws disconnect", extra={
                "connection_id": conn_id, "code": code, "messages": messages, "outcome": outcome,
                "seconds": round(time.time() - connected_at, 1)})

    def _spawn_message(self, conn: Connection, text: str, domain: str) -> None:
        task = asyncio.get_running_loop().create_task(self._message(conn, text, domain))
        self._inflight.add(task)  # awaited by close(), like the invokes
        task.add_done_callback(self._inflight.discard)

    async def _message(self, conn: Connection, text: str, domain: str) -> None:
        t0 = time.perf_counter()
        request_id = aws_id()
        route_key = self.select_route(text)
        if route_key is None:
            await self._error(conn, "Forbidden", request_id)
            log.info("ws message", extra={"connection_id": conn.id, "route": "-", "outcome": "no_route",
                                          "bytes": len(text), "request_id": request_id})
            return
        event: dict[str, Any] = {"requestContext": self._context(
            conn.id, conn.connected_at, route_key, "MESSAGE", request_id,
            domain, conn.source_ip, conn.user_agent), "body": text, "isBase64Encoded": False}
        event["requestContext"]["messageId"] = aws_id()
        done = await self._invoke(route_key, event, request_id)
        outcome = done.status if done is not None else "integration_timeout"
        if done is None:
            await self._error(conn, "Endpoint request timed out", request_id)
        elif done.status != "ok":
            await self._error(conn, "Internal server error", request_id)
        log.info("ws message", extra={
            "connection_id": conn.id, "route": route_key, "function": self.api.routes[route_key],
            "outcome": outcome, "bytes": len(text), "request_id": request_id,
            "ms": round((time.perf_counter() - t0) * 1000, 1)})

    async def _error(self, conn: Connection, message: str, request_id: str) -> None:
        await conn.deliver(json.dumps({"message": message, "connectionId": conn.id, "requestId": request_id}))

    def select_route(self, body: str) -> str | None:
        """The route key `RouteSelectionExpression` picks for a message body, else $default (or None)."""
        value: Any
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, or nested deeper than the parser goes
            value = None
        for key in self._selection:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and \
                str(value) in self.api.routes and not str(value).startswith("$"):
            return str(value)
        return "$default" if "$default" in self.api.routes else None

    async def _watch(self, conn: Connection) -> None:
        """AWS's idle timeout and maximum connection duration."""
        while conn.open:
            now = time.time()
            deadline = min(conn.last_active + self.idle_seconds, conn.connected_at + self.max_seconds)
            if now >= deadline:
                await conn.close(GOING_AWAY, "Going away")
                return
            await asyncio.sleep(min(deadline - now, 30.0))

    # The management API: @connections ---------------------------------------------------------

    async def _manage(self, scope: Scope, receive: Any, send: Any) -> None:
        raw = scope.get("raw_path") or scope["path"].encode()
        path = raw.decode("latin-1").split("?", 1)[0]
        prefix = f"/{self.stage}/@connections/"
        method = scope["method"].upper()
        if not path.startswith(prefix) or "/" in path[len(prefix):] or method not in ("POST", "GET", "DELETE"):
            status = 426 if path.rstrip("/") == f"/{self.stage}" else 404
            await _respond(send, status, {"message": "Upgrade Required" if status == 426 else "Not Found"})
            return
        body = await read_body(receive, MAX_MESSAGE_BYTES)
        if body is not None:  # (one too large is refused below, signed or not: it is never read whole)
            try:
                verify_asgi(scope, body, self.credentials)
            except SignatureRefused as refused:
                log.warning("@connections request refused: unsigned or wrongly signed", extra={"reason": refused.code})
                await _respond(send, 403, {"message": refused.message}, error=refused.aws_error_type)
                return
        conn = self.connections.get(unquote(path[len(prefix):]))
        if body is None:
            await _respond(send, 413, {"message": f"Message too long. Max length is {MAX_MESSAGE_BYTES} bytes."},
                           error="PayloadTooLargeException")
        elif conn is None or not conn.open:
            await _respond(send, 410, {"message": None}, error="GoneException")
        elif method == "GET":
            await _respond(send, 200, {"connectedAt": _iso(conn.connected_at), "lastActiveAt": _iso(conn.last_active),
                                       "identity": {"sourceIp": conn.source_ip, "userAgent": conn.user_agent}})
        elif method == "DELETE":
            await conn.close(1000)
            await _respond(send, 204, None)
        else:
            try:
                delivered = await conn.deliver(text=body.decode("utf-8"))
            except UnicodeDecodeError:
                delivered = await conn.deliver(data=body)
            if delivered:
                await _respond(send, 200, None)
            else:
                await _respond(send, 410, {"message": None}, error="GoneException")

    async def close(self, grace: float = 5.0) -> None:
        """After the server stopped: let invokes still running finish for `grace` seconds, then cancel."""
        if self._inflight:
            _, pending = await asyncio.wait(set(self._inflight), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)


# ---------------------------------------------------------------------------------------------
# Events and answers


def _connect_event(pairs: list[tuple[str, str]], raw_query: str, scope: Scope, source_ip: str) -> dict[str, Any]:
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        multi.setdefault(canonical_header(name), []).append(value)
    forwarded = multi.get("X-Forwarded-For")
    multi["X-Forwarded-For"] = [f"{forwarded[-1]}, {source_ip}" if forwarded else source_ip]
    multi["X-Forwarded-Port"] = [str((scope.get("server") or ("", 80))[1])]
    multi["X-Forwarded-Proto"] = ["https" if scope.get("scheme") == "wss" else "http"]
    multi["X-Amzn-Trace-Id"] = [f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"]
    event: dict[str, Any] = {"headers": {k: v[-1] for k, v in multi.items()}, "multiValueHeaders": multi}
    query: dict[str, list[str]] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True):
        query.setdefault(key, []).append(value)
    if query:
        event["queryStringParameters"] = {k: v[-1] for k, v in query.items()}
        event["multiValueQueryStringParameters"] = query
    event["isBase64Encoded"] = False
    return event


def _connect_answer(done: Invocation | None) -> tuple[int, str | None, bytes, str]:
    """(status, subprotocol, body, outcome) of the $connect function's answer."""
    if done is None:
        return 504, None, json.dumps({"message": "Endpoint request timed out"}).encode(), "integration_timeout"
    if done.status != "ok":
        return 502, None, json.dumps({"message": "Internal server error"}).encode(), done.status
    result = done.result
    status = result.get("statusCode") if isinstance(result, dict) else None
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        return 502, None, json.dumps({"message": "Internal server error"}).encode(), "malformed_result"
    assert isinstance(result, dict)
    headers: Mapping[str, Any] = result.get("headers") or {}
    subprotocol = next((str(v) for k, v in headers.items() if str(k).lower() == "sec-websocket-protocol"), None)
    body = result.get("body")
    return status, subprotocol, body.encode() if isinstance(body, str) else b"", "ok"


async def _refuse(scope: Scope, send: Any, status: int, body: bytes) -> None:
    """Answer the handshake with an HTTP status, as API Gateway does; 1008 where the server cannot."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})


async def _respond(send: Any, status: int, body: Any, error: str | None = None) -> None:
    data = b"" if body is None else json.dumps(body).encode()
    headers = [(b"content-length", str(len(data)).encode()), (b"x-amzn-requestid", aws_id().encode())]
    if body is not None:
        headers.append((b"content-type", b"application/json"))
    if error:
        headers.append((b"x-amzn-errortype", error.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
