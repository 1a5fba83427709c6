"""Fake LLM providers that speak the real OpenAI, Azure OpenAI and Anthropic wire formats.

The real SDKs talk to it over HTTP, so tests exercise what production runs. The server runs with
uvicorn in a background thread of the test process on 127.0.0.1:<free port>, so other processes
(the local stack's `complete` function) can call it too, while the test scripts it in Python:

    with FakeLLMServer(token_count=5) as fake:
        fake.fail(status=429, retry_after=1)      # the next call answers 429, the one after streams
        fake.drop_after(3)                        # then one that breaks off after 3 tokens
        ... call fake.openai_url / fake.azure_endpoint / fake.anthropic_url ...
        assert fake.requests[-1].body["max_tokens"] == 100

Each call (chat or model list) takes the next queued plan; with none queued it answers normally.
Tokens default to "tok0 ", "tok1 ", ... (`token_count` of them, fewer when the request's max_tokens
is lower, then with finish reason "length"), so tests can predict the text; `echo=True` answers
with the words of the last user message instead. Usage: input tokens are the words of the system
prompt and all messages, output tokens the tokens sent. A streamed call's RecordedRequest keeps
`sent`, the time.monotonic() at which each token's frame left, so a benchmark can measure latency
per token (CLOCK_MONOTONIC is system-wide on Linux: other processes' clocks compare).

For benchmarks:  python -m tests.fakes.llm_server --port 8100 --tokens 200 --delay-ms 5
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from eneo.llm.types import ProviderConfig, ProviderType
from tests.fakes import llm_wire as wire
from tests.fakes.llm_wire import Dialect

SECRET_HEADERS = ("authorization", "api-key", "x-api-key")
_DROP_MESSAGE = "ASGI callable returned without completing response."
END = -1  # Plan.after: just before a stream's last frame


@dataclass
class Plan:
    """What the fake does to one call instead of answering normally."""

    kind: Literal["status", "drop", "stall", "error_event"]
    status: int = 500
    retry_after: float | None = None
    error_type: str | None = None
    after: int = 0  # tokens sent before a drop, stall or error event
    seconds: float = 0.0
    graceful: bool = False  # drop: end the body properly (still without a terminal event)


@dataclass
class RecordedRequest:
    """One request as the fake received it; secret header values are replaced by "<redacted>"."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float  # time.monotonic() on arrival
    key_ok: bool = True
    sent: list[float] = field(default_factory=list)  # streams: time.monotonic() as each token's frame left
    left_at: float | None = None  # streams: time.monotonic() when the client closed the stream before its end


class FakeLLM:
    """The scriptable state and the ASGI app. Thread-safe: the test thread scripts, the server reads."""

    def __init__(self, *, api_key: str | None = "test-key", token_count: int = 8, tokens: list[str] | None = None,
                 delay: float = 0.0, models: set[str] | None = None, echo: bool = False,
                 stream_usage: bool = True) -> None:
        self.api_key = api_key  # None: any key is accepted (a key must still be sent)
        self.token_count = token_count
        self.tokens = tokens
        self.delay = delay  # seconds between two tokens
        self.models = models  # None: every model (and Azure deployment) exists
        self.echo = echo
        self.stream_usage = stream_usage  # False: like servers that ignore stream_options.include_usage
        self._lock = threading.Lock()
        self._plans: list[Plan] = []
        self._requests: list[RecordedRequest] = []
        self.app = Starlette(routes=[
            Route("/v1/chat/completions", self._openai_chat, methods=["POST"]),
            Route("/openai/deployments/{deployment}/chat/completions", self._azure_chat, methods=["POST"]),
            Route("/v1/messages", self._anthropic_messages, methods=["POST"]),
            Route("/v1/models", self._list_models, methods=["GET"]),
            Route("/v1/models/{model:path}", self._get_model, methods=["GET"]),
            Route("/openai/models", self._list_models, methods=["GET"]),
        ])

    # --- scripting, from the test ------------------------------------------------------------

    def _queue(self, plan: Plan, times: int = 1) -> None:
        with self._lock:
            self._plans.extend([plan] * times)

    def fail(self, status: int = 500, *, retry_after: float | None = None, error_type: str | None = None,
             times: int = 1) -> None:
        """The next `times` calls answer `status` with the provider's error body (and Retry-After)."""
        self._queue(Plan("status", status=status, retry_after=retry_after, error_type=error_type), times)

    def drop_after(self, n_tokens: int, *, graceful: bool = False) -> None:
        """The next call closes the connection after n tokens, without a terminal event."""
        self._queue(Plan("drop", after=n_tokens, graceful=graceful))

    def drop_before_end(self) -> None:
        """The next stream closes the connection just before its last frame ([DONE], message_stop):
        the answer is complete (finish reason, usage), only the end marker is lost."""
        self._queue(Plan("drop", after=END))

    def stall_after(self, n_tokens: int, seconds: float) -> None:
        """The next call goes silent for `seconds` after n tokens (until the client leaves), then goes on."""
        self._queue(Plan("stall", after=n_tokens, seconds=seconds))

    def error_event_after(self, n_tokens: int, error_type: str = "overloaded_error") -> None:
        """The next call sends an in-stream error after n tokens (Anthropic `error` event, OpenAI error chunk)."""
        self._queue(Plan("error_event", after=n_tokens, error_type=error_type))

    def reset(self) -> None:
        """Forget plans and recorded requests (a server shared by several tests)."""
        with self._lock:
            self._plans.clear()
            self._requests.clear()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def pending_plans(self) -> int:
        with self._lock:
            return len(self._plans)

    def expected_tokens(self, max_tokens: int | None = None) -> list[str]:
        """The tokens a default (non-echo) call answers with."""
        tokens = self.tokens if self.tokens is not None else [f"tok{i} " for i in range(self.token_count)]
        return tokens[:max_tokens] if max_tokens is not None else list(tokens)

    # --- serving -----------------------------------------------------------------------------

    async def _record(self, request: Request, dialect: Dialect) -> tuple[RecordedRequest, Any]:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        sent = [request.headers[h].removeprefix(prefix) for h, prefix in _KEY_HEADERS[dialect] if h in request.headers]
        key_ok = bool(sent) and (self.api_key is None or self.api_key in sent)
        headers = {k: ("<redacted>" if k in SECRET_HEADERS else v) for k, v in request.headers.items()}
        record = RecordedRequest(request.method, request.url.path, dict(request.query_params), headers, body,
                                 time.monotonic(), key_ok)
        with self._lock:
            self._requests.append(record)
        return record, body

    def _next_plan(self) -> Plan | None:
        with self._lock:
            return self._plans.pop(0) if self._plans else None

    def _answer_tokens(self, body: dict[str, Any], dialect: Dialect) -> tuple[list[str], bool]:
        """The tokens to send and whether max_tokens cut them short."""
        echoed = [word + " " for word in wire.text_of(wire.last_user(body)).split()]
        tokens = echoed if self.echo else self.expected_tokens()
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        if isinstance(limit, int) and limit < len(tokens):
            return tokens[:limit], True
        return tokens, False

    async def _openai_chat(self, request: Request) -> Response:
        record, body = await self._record(request, "openai")
        if not record.key_ok:
            return wire.error_response("openai", 401, "invalid_api_key")
        return await self._chat(body, "openai", body.get("model") if isinstance(body, dict) else None, record)

    async def _azure_chat(self, request: Request) -> Response:
        record, body = await self._record(request, "azure")
        if "api-version" not in record.query:
            return wire.error_response("azure", 404, "404")  # Azure: "Resource not found"
        if not record.key_ok:
            return wire.error_response("azure", 401, "401")
        return await self._chat(body, "azure", request.path_params["deployment"], record)

    async def _anthropic_messages(self, request: Request) -> Response:
        record, body = await self._record(request, "anthropic")
        if not record.key_ok:
            return wire.error_response("anthropic", 401, "authentication_error")
        if "anthropic-version" not in record.headers:
            return wire.error_response("anthropic", 400, "invalid_request_error")
        return await self._chat(body, "anthropic", body.get("model") if isinstance(body, dict) else None, record)

    async def _list_models(self, request: Request) -> Response:
        anthropic = "anthropic-version" in request.headers
        dialect: Dialect = "anthropic" if anthropic else (
            "azure" if request.url.path.startswith("/openai/") else "openai")
        record, _ = await self._record(request, dialect)
        if not record.key_ok:
            return wire.error_response(dialect, 401, "authentication_error" if anthropic else "invalid_api_key")
        if (plan := self._next_plan()) is not None:
            return await self._planned_json(plan, dialect, {})
        names = sorted(self.models or {"fake-model"})
        if anthropic:
            data = [{"type": "model", "id": n, "display_name": n, "created_at": "2025-01-01T00:00:00Z"} for n in names]
            return JSONResponse({"data": data, "has_more": False, "first_id": names[0], "last_id": names[-1]})
        return JSONResponse({"object": "list", "data": [wire.openai_model(n) for n in names]})

    async def _get_model(self, request: Request) -> Response:
        record, _ = await self._record(request, "openai")
        if not record.key_ok:
            return wire.error_response("openai", 401, "invalid_api_key")
        if (plan := self._next_plan()) is not None:
            return await self._planned_json(plan, "openai", {})
        model = request.path_params["model"]
        if self.models is not None and model not in self.models:
            return wire.error_response("openai", 404, "model_not_found")
        return JSONResponse(wire.openai_model(model))

    async def _chat(self, body: Any, dialect: Dialect, model: str | None,
                    record: RecordedRequest | None = None) -> Response:
        if not isinstance(body, dict) or not model:
            return wire.error_response(dialect, 400, "invalid_request_error")
        plan = self._next_plan()
        if plan is not None and plan.kind == "status":
            return wire.error_response(dialect, plan.status, plan.error_type, plan.retry_after)
        if self.models is not None and model not in self.models:
            return wire.error_response(dialect, 404, "DeploymentNotFound" if dialect == "azure" else None)
        tokens, cut = self._answer_tokens(body, dialect)
        usage = (wire.count_words(body), len(tokens))
        if body.get("stream"):
            include_usage = self.stream_usage and bool((body.get("stream_options") or {}).get("include_usage"))
            reply = (wire.anthropic_stream(model, tokens, cut, usage) if dialect == "anthropic"
                     else wire.openai_stream(model, tokens, cut, usage if include_usage else None, dialect == "azure"))
            return _Stream(reply, self.delay, plan, dialect == "anthropic", record)
        if dialect == "anthropic":
            payload = wire.anthropic_message(model, "".join(tokens), cut, usage)
        else:
            payload = wire.openai_completion(model, "".join(tokens), cut, usage)
        return await self._planned_json(plan, dialect, payload, self.delay * len(tokens))

    async def _planned_json(self, plan: Plan | None, dialect: Dialect, payload: dict[str, Any],
                            work: float = 0.0) -> Response:
        """A JSON answer after `work` seconds, disturbed by `plan` if there is one."""
        if plan is None:
            await asyncio.sleep(work)
            return JSONResponse(payload)
        if plan.kind == "status":
            return wire.error_response(dialect, plan.status, plan.error_type, plan.retry_after)
        if plan.kind == "error_event":
            return wire.error_response(dialect, 529 if dialect == "anthropic" else 500, plan.error_type)
        return _Delayed(payload, work + (plan.seconds if plan.kind == "stall" else 0.0), drop=plan.kind == "drop")


# Where each dialect's SDK sends the key (recent anthropic SDKs send it as a bearer token).
_KEY_HEADERS: dict[Dialect, list[tuple[str, str]]] = {
    "openai": [("authorization", "Bearer ")], "azure": [("api-key", "")],
    "anthropic": [("x-api-key", ""), ("authorization", "Bearer ")]}


# --- responses that misbehave on purpose --------------------------------------------------------

class _Client:
    """Watches for the client's disconnect while a response is written."""

    def __init__(self, receive: Receive, record: RecordedRequest | None = None) -> None:
        self._gone = asyncio.ensure_future(self._watch(receive, record))

    @staticmethod
    async def _watch(receive: Receive, record: RecordedRequest | None) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if record is not None:
            record.left_at = time.monotonic()

    async def wait(self, seconds: float) -> bool:
        """Sleep `seconds`; True if the client left meanwhile."""
        if seconds > 0 and not self._gone.done():
            await asyncio.wait([self._gone], timeout=seconds)
        return self._gone.done()

    def close(self) -> None:
        self._gone.cancel()


class _Stream(Response):
    """Server-sent events, one frame per token with `delay` between them, disturbed by `plan`."""

    media_type = "text/event-stream"

    def __init__(self, reply: wire.Reply, delay: float, plan: Plan | None, anthropic: bool,
                 record: RecordedRequest | None = None) -> None:
        # Not Response.__init__: it would announce a content-length for the empty body.
        self.status_code, self.background = 200, None
        self.init_headers({"cache-control": "no-cache"})
        self.reply, self.delay, self.plan, self.anthropic = reply, delay, plan, anthropic
        self.sent = record.sent if record is not None else []
        self.record = record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = _Client(receive, self.record)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await self._write(client, send)
        finally:
            client.close()

    async def _write(self, client: _Client, send: Send) -> None:
        async def frame(data: bytes) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": True})

        async def end() -> None:
            await send({"type": "http.response.body", "body": b"", "more_body": False})

        for data in self.reply.head:
            await frame(data)
        for index, data in enumerate(self.reply.tokens):
            if await self._disturb(index, client, frame, end):
                return
            await frame(data)
            self.sent.append(time.monotonic())
            if await client.wait(self.delay):
                return
        if await self._disturb(len(self.reply.tokens), client, frame, end, last=True):
            return
        for index, data in enumerate(self.reply.tail):
            if index == len(self.reply.tail) - 1 and await self._disturb(END, client, frame, end):
                return
            await frame(data)
        await end()

    async def _disturb(self, sent: int, client: _Client, frame: Callable[[bytes], Awaitable[None]],
                       end: Callable[[], Awaitable[None]], last: bool = False) -> bool:
        """Apply the plan once `sent` tokens are out; True when the response must stop here."""
        plan = self.plan
        if plan is None or (plan.after != sent and not (last and plan.after > sent != END)):
            return False
        self.plan = None
        if plan.kind == "drop":
            if plan.graceful:
                await end()
            return True  # not ending the body makes uvicorn close the connection mid-chunk
        if plan.kind == "stall":
            return await client.wait(plan.seconds)
        await frame(wire.stream_error(self.anthropic, plan.error_type or "server_error"))
        await end()
        return True


class _Delayed(Response):
    """A JSON answer after `seconds`, or its first half and a closed connection when `drop`."""

    media_type = "application/json"

    def __init__(self, payload: dict[str, Any], seconds: float, drop: bool) -> None:
        super().__init__(content=json.dumps(payload))
        self.seconds, self.drop = seconds, drop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = _Client(receive)
        try:
            if await client.wait(self.seconds):
                return
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            body = self.body[: len(self.body) // 2] if self.drop else self.body
            await send({"type": "http.response.body", "body": body, "more_body": self.drop})
        finally:
            client.close()


# --- the server ---------------------------------------------------------------------------------

class _QuietDrops(logging.Filter):
    """uvicorn reports every planned drop as an error; keep those (and only those) out of the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.threadName or "").startswith("fake-llm") or record.getMessage() != _DROP_MESSAGE


def _listen(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP: asyncio then sets TCP_NODELAY on accepted sockets, so small SSE frames leave at once.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def _config(app: Any) -> uvicorn.Config:
    return uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", server_header=False,
                          timeout_graceful_shutdown=1)


class FakeLLMServer(FakeLLM):
    """FakeLLM served on 127.0.0.1:<port> from a background thread; a context manager."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        super().__init__(**options)
        self.host, self.port = host, port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_url(self) -> str:
        """base_url for the openai SDK (OpenAI and OpenAI-compatible)."""
        return self.url + "/v1"

    @property
    def azure_endpoint(self) -> str:
        return self.url

    @property
    def anthropic_url(self) -> str:
        """base_url for the anthropic SDK (it adds /v1/messages itself)."""
        return self.url

    def provider_config(self, type: ProviderType, api_key: str | None = None) -> ProviderConfig:
        """A ProviderConfig for this server; `api_key` defaults to the one it accepts."""
        key = api_key if api_key is not None else (self.api_key or "any-key")
        if type == "azure":
            return ProviderConfig("azure", api_key=key, endpoint=self.azure_endpoint, api_version="2024-10-21")
        if type == "anthropic":
            return ProviderConfig("anthropic", api_key=key, base_url=self.anthropic_url)
        return ProviderConfig(type, api_key=key, base_url=self.openai_url)

    def start(self) -> FakeLLMServer:
        logging.getLogger("uvicorn.error").addFilter(_QUIET_DROPS)
        self._socket = _listen(self.host, self.port)
        self.port = int(self._socket.getsockname()[1])
        self._server = uvicorn.Server(_config(self.app))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name=f"fake-llm-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake LLM server did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server, self._thread, self._socket = None, None, None

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_QUIET_DROPS = _QuietDrops()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI/Azure/Anthropic server for benchmarks")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed)")
    parser.add_argument("--tokens", type=int, default=200, help="tokens per answer")
    parser.add_argument("--delay-ms", type=float, default=5.0, help="milliseconds between two tokens")
    parser.add_argument("--api-key", default=None, help="the only key accepted (default: any)")
    args = parser.parse_args(argv)
    fake = FakeLLM(api_key=args.api_key, token_count=args.tokens, delay=args.delay_ms / 1000)
    sock = _listen(args.host, args.port)
    print(f"fake LLM server on http://{args.host}:{sock.getsockname()[1]}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(_config(fake.app)).run(sockets=[sock])


if __name__ == "__main__":
    main()
