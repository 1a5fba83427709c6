"""The local API Gateway (HTTP API): an ASGI app that routes requests to function workers.

What API Gateway does itself is done here, so that functions behave as behind the real one:
routing (routes.py), the v2.0 event and response mapping (http_events.py), CORS from the API's
CorsConfiguration (preflights answered here, the function's own CORS headers replaced), the 10 MB
request limit (413), Lambda's 6 MB invoke limits (workers.py), the 30 s integration timeout and the
function's timeout (503), function errors and crashes (500), and `{"message": "Not Found"}` for a
request no route takes. Each request gets an `X-Request-Id` (the client's, if it sent a sane one).

One JSON log line per request: method, route, status, duration. Never bodies, queries or headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import uvicorn

from eneo_local.http_events import (
    HttpRequest,
    HttpResponse,
    MalformedResponse,
    build_event,
    message_response,
    to_response,
)
from eneo_local.routes import RouteTable
from eneo_local.static_site import StaticSite
from eneo_local.template import CorsConfig, HttpApiSpec, StackTemplate
from eneo_local.workers import FunctionHost, Invocation

log = logging.getLogger("eneo_local.gateway")

MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway HTTP API payload limit
INTEGRATION_TIMEOUT = 30.0  # API Gateway HTTP API's longest integration timeout, in seconds
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:=-]{1,128}$")

Scope = dict[str, Any]


def _select_api(template: StackTemplate, api: str | None) -> HttpApiSpec:
    if api is not None:
        return template.http_apis[api]
    used = {r.api for r in template.routes}
    if len(used) > 1:
        raise ValueError(f"the template has several HTTP APIs ({', '.join(sorted(used))}); choose one")
    if used:
        return template.http_apis[used.pop()]
    if template.http_apis:
        return next(iter(template.http_apis.values()))
    return HttpApiSpec("NoApi", "localnoapi", None)


class Gateway:
    """ASGI app serving one HTTP API of the template."""

    def __init__(self, template: StackTemplate, functions: FunctionHost, api: str | None = None,
                 integration_timeout: float = INTEGRATION_TIMEOUT, static: StaticSite | None = None) -> None:
        self.api = _select_api(template, api)
        self.template = template
        self.functions = functions
        self.routes = RouteTable(r for r in template.routes if r.api == self.api.logical_id)
        self.cors = self.api.cors
        self.integration_timeout = integration_timeout
        self._inflight: set[asyncio.Task[Invocation]] = set()
        self.static = static  # the web client, at every GET outside /api/ (CloudFront's job in AWS)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return  # served with lifespan off; WebSocket APIs are served elsewhere
        t0 = time.perf_counter()
        request = _request_of(scope)
        api_request_id = _apigw_request_id()
        client_id = request.header("x-request-id")
        request_id = client_id if client_id and _REQUEST_ID.match(client_id) else api_request_id
        route_key, function, outcome = "-", "-", "-"
        try:
            response, route_key, function, outcome = await self._handle(
                request, receive, request_id, api_request_id, scope)
        except Exception:
            log.exception("gateway error", extra={"request_id": request_id})
            response = message_response(500, "Internal Server Error")
            outcome = "gateway_error"
        if outcome != "cors":
            self._apply_cors(request, response)
        _tag(response, request_id, api_request_id)
        await _send(send, response, head=request.method == "HEAD")
        log.info("request", extra={
            "method": request.method, "route": route_key, "status": response.status,
            "ms": round((time.perf_counter() - t0) * 1000, 1), "request_id": request_id,
            "function": function, "outcome": outcome})

    async def _handle(self, request: HttpRequest, receive: Any, request_id: str, api_request_id: str,
                      scope: Scope) -> tuple[HttpResponse, str, str, str]:
        if self._is_preflight(request):
            return self._preflight(request), "OPTIONS (CORS preflight)", "-", "cors"
        if self.static is not None and (page := self.static.respond(request)) is not None:
            return page, "static", "-", "static"
        declared = request.header("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
            return message_response(413, "Request Entity Too Large"), "-", "-", "too_large"
        body = await read_body(receive, MAX_REQUEST_BYTES)
        if body is None:
            return message_response(413, "Request Entity Too Large"), "-", "-", "too_large"
        request.body = body
        match = self.routes.match(request.method, request.raw_path)
        if match is None:
            return message_response(404, "Not Found"), "-", "-", "no_route"
        route_key, function = match.route.route_key, match.route.function
        client_ip = request.source_ip
        forwarded = request.header("x-forwarded-for")
        host = request.header("host") or f"{self.api.api_id}.execute-api.{self.template.region}.amazonaws.com"
        server_port = (scope.get("server") or ("", 80))[1]
        event = build_event(
            request, match, api_id=self.api.api_id, account_id=self.template.account_id,
            request_id=api_request_id, domain_name=host.split(":", 1)[0],
            extra_headers={
                "x-forwarded-for": f"{forwarded},{client_ip}" if forwarded else client_ip,
                "x-forwarded-port": str(server_port),
                "x-forwarded-proto": scope.get("scheme", "http"),
                "x-amzn-trace-id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}",
                "x-request-id": request_id,
            })
        response, outcome = await self._invoke(function, event)
        return response, route_key, function, outcome

    async def _invoke(self, function: str, event: dict[str, Any]) -> tuple[HttpResponse, str]:
        # A client that goes away, or the integration timeout, must not cancel the invoke halfway:
        # Lambda would finish it, and the worker must stay in step with its pipe.
        task = asyncio.get_running_loop().create_task(self.functions.invoke(function, event))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        try:
            invocation = await asyncio.wait_for(asyncio.shield(task), self.integration_timeout)
        except TimeoutError:
            return message_response(503, "Service Unavailable"), "integration_timeout"
        if invocation.status == "ok":
            try:
                return to_response(invocation.result), "ok"
            except MalformedResponse as exc:
                log.error("function result is not an HTTP response",
                          extra={"function": function, "error": str(exc)})
                return message_response(500, "Internal Server Error"), "malformed_result"
        if invocation.status == "timeout":
            return message_response(503, "Service Unavailable"), "timeout"
        if invocation.status == "too_large":  # the event: a 7 MB upload passes the gateway, not Lambda
            return message_response(413, "Request Entity Too Large"), "too_large"
        error_type = (invocation.error or {}).get("errorType")
        log.error("function failed", extra={"function": function, "outcome": invocation.status,
                                            "error_type": error_type})
        return message_response(500, "Internal Server Error"), invocation.status

    # CORS ------------------------------------------------------------------------------------

    def _is_preflight(self, request: HttpRequest) -> bool:
        return (self.cors is not None and request.method == "OPTIONS"
                and request.header("origin") is not None
                and request.header("access-control-request-method") is not None)

    def _allowed_origin(self, cors: CorsConfig, origin: str | None) -> str | None:
        if origin is None:
            return None
        if "*" in cors.allow_origins:
            return "*" if not cors.allow_credentials else origin
        return origin if origin in cors.allow_origins else None

    def _preflight(self, request: HttpRequest) -> HttpResponse:
        assert self.cors is not None
        cors = self.cors
        response = HttpResponse(204)
        origin = self._allowed_origin(cors, request.header("origin"))
        method = (request.header("access-control-request-method") or "").upper()
        if origin is None or (cors.allow_methods and "*" not in cors.allow_methods
                              and method not in cors.allow_methods):
            return response
        headers = [("access-control-allow-origin", origin)]
        if "*" in cors.allow_methods or not cors.allow_methods:
            headers.append(("access-control-allow-methods", method))
        else:
            headers.append(("access-control-allow-methods", ",".join(cors.allow_methods)))
        wanted = request.header("access-control-request-headers")
        if "*" in cors.allow_headers and wanted:
            headers.append(("access-control-allow-headers", wanted))
        elif cors.allow_headers:
            headers.append(("access-control-allow-headers", ",".join(h.lower() for h in cors.allow_headers)))
        if cors.max_age is not None:
            headers.append(("access-control-max-age", str(cors.max_age)))
        if cors.allow_credentials:
            headers.append(("access-control-allow-credentials", "true"))
        if origin != "*":
            headers.append(("vary", "Origin"))
        response.headers.extend(headers)
        return response

    def _apply_cors(self, request: HttpRequest, response: HttpResponse) -> None:
        """With CORS configured, API Gateway ignores the function's CORS headers and sets its own."""
        if self.cors is None:
            return
        response.headers = [(k, v) for k, v in response.headers if not k.startswith("access-control-")]
        origin = self._allowed_origin(self.cors, request.header("origin"))
        if origin is not None:
            response.headers.append(("access-control-allow-origin", origin))
            if self.cors.expose_headers:
                response.headers.append(("access-control-expose-headers", ",".join(self.cors.expose_headers)))
            if self.cors.allow_credentials:
                response.headers.append(("access-control-allow-credentials", "true"))
            if origin != "*":
                response.headers.append(("vary", "Origin"))

    async def drain(self) -> None:
        """Wait for invokes still running after their clients got an answer (timeouts)."""
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)


def _tag(response: HttpResponse, request_id: str, api_request_id: str) -> None:
    if response.header("x-request-id") is None:
        response.headers.append(("x-request-id", request_id))
    response.headers.append(("apigw-requestid", api_request_id))


def _apigw_request_id() -> str:
    """API Gateway's request ids look like `JTHoQiE4joEEJyA=`; any unique token does."""
    return uuid.uuid4().hex[:20]


def _request_of(scope: Scope) -> HttpRequest:
    raw = scope.get("raw_path")
    raw_path = raw.decode("latin-1") if raw else quote(scope["path"])
    raw_path = raw_path.split("?", 1)[0]
    return HttpRequest(
        method=scope["method"].upper(),
        raw_path=raw_path,
        raw_query=scope.get("query_string", b"").decode("latin-1"),
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", [])],
        body=b"",
        source_ip=(scope.get("client") or ("127.0.0.1", 0))[0],
        protocol=f"HTTP/{scope.get('http_version', '1.1')}",
    )


async def read_body(receive: Any, limit: int) -> bytes | None:
    """The request body, or None as soon as it passes `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _send(send: Any, response: HttpResponse, head: bool = False) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else response.body})


# ---------------------------------------------------------------------------------------------
# Serving


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the stack decides how to shut down."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class GatewayServer:
    """Serves an ASGI app with uvicorn on a socket bound up front: port 0 works, and a port in use
    fails before anything else has started."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self._socket: socket.socket | None = None
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def bind(self) -> int:
        if self._socket is None:
            # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when the
            # listening socket says so, and without it every response with a body waits ~40 ms
            # for a delayed ACK (headers and body are written separately).
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.host, self.requested_port))
            except OSError as exc:
                sock.close()
                raise OSError(f"cannot listen on {self.host}:{self.requested_port}: {exc.strerror}") from exc
            self._socket = sock
            self.port = int(sock.getsockname()[1])
        assert self.port is not None
        return self.port

    async def start(self, app: Any, **options: Any) -> str:
        """Serve `app`; `options` go to uvicorn.Config (the WebSocket server sets ws_max_size)."""
        self.bind()
        assert self._socket is not None
        config = uvicorn.Config(app, **({"log_config": None, "access_log": False, "lifespan": "off",
                                         "server_header": False, "timeout_graceful_shutdown": 10} | options))
        self._server = _Server(config)
        self._task = asyncio.get_running_loop().create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises the startup error
                raise RuntimeError("the gateway stopped during startup")
            await asyncio.sleep(0.01)
        return self.url

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        if self._socket is not None:
            self._socket.close()
        self._server, self._task, self._socket = None, None, None
