"""The Lambda Invoke API, so that `boto3.client("lambda").invoke(...)` inside a function works unchanged.

Every function gets `AWS_ENDPOINT_URL_LAMBDA` pointing here (boto3 reads service-specific
endpoint variables), and this ASGI app answers `POST /2015-03-31/functions/{FunctionName}/invocations`
as Lambda does: the function by name, ARN or partial ARN (qualifier `$LATEST` only);
`X-Amz-Invocation-Type` RequestResponse (200 and the result, or `X-Amz-Function-Error: Unhandled`
and the error), Event (202, queued), DryRun (204); errors in the JSON shape boto3 reads
(`x-amzn-ErrorType`), so `client.exceptions.ResourceNotFoundException` is raised for an unknown
function. Limits: 6 MB for a synchronous payload, 256 KB for an event (413). Every request must be
SigV4-signed with the stack's credentials (eneo_local.sigv4; boto3 with them works unchanged): anything else is
refused 403 before the function is even looked up, as AWS does, so no one else on the machine can invoke a
function or learn which exist. `X-Amz-Log-Type: Tail` returns no log.

Asynchronous invokes go through `AsyncInvoker`: a queue per function, drained by as many tasks as
the function may have instances, with Lambda's retry policy for async invokes: a function error,
timeout or crash is retried `EventInvokeConfig.MaximumRetryAttempts` times (default 2), after
shortened delays (1 s, then 2 s; Lambda waits about 1 and 2 minutes), and dropped with a log line
once retries are spent or it is older than `MaximumEventAgeInSeconds`. Destinations are not emulated.
On stop, no queued event is started; running ones get up to 5 s, then are cancelled; both are logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from eneo_local.gateway import read_body
from eneo_local.sigv4 import Credentials, SignatureRefused, verify_asgi
from eneo_local.template import StackTemplate
from eneo_local.workers import MAX_PAYLOAD_BYTES, FunctionHost, Invocation

log = logging.getLogger("eneo_local.lambda_api")

MAX_EVENT_BYTES = 256 * 1024  # Lambda's limit on an asynchronous invoke's payload
RETRY_DELAYS = (1.0, 2.0)  # before the first and second retry (Lambda: ~1 min, ~2 min)
_PATH_PREFIX = "/2015-03-31/functions/"
_PATH_SUFFIX = "/invocations"


@dataclass
class _Event:
    function: str  # logical id
    payload: Any
    request_id: str
    received: float = field(default_factory=time.monotonic)
    attempts: int = 0


class AsyncInvoker:
    """Lambda's internal queue for asynchronous invokes, one per function, with its retries."""

    def __init__(self, functions: FunctionHost, retry_delays: Sequence[float] = RETRY_DELAYS) -> None:
        self.functions = functions
        self.retry_delays = tuple(retry_delays)
        self._queues: dict[str, asyncio.Queue[_Event]] = {}
        self._tasks: set[asyncio.Task[None]] = set()  # consumers and retry timers
        self._running: set[asyncio.Task[Invocation]] = set()
        self._retrying = 0  # events waiting for their retry delay
        self.closing = False  # stopping: queued events are no longer started
        self.closed = False

    def submit(self, function: str, payload: Any, request_id: str) -> None:
        if self.closed:
            raise RuntimeError("the async invoker is closed")
        self._queue(function).put_nowait(_Event(function, payload, request_id))

    def _queue(self, function: str) -> asyncio.Queue[_Event]:
        if function not in self._queues:
            queue: asyncio.Queue[_Event] = asyncio.Queue()
            self._queues[function] = queue
            for _ in range(self.functions.pools[function].max_instances):
                self._start(self._consume(queue))
        return self._queues[function]

    def _start(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _consume(self, queue: asyncio.Queue[_Event]) -> None:
        while True:
            event = await queue.get()
            if self.closing:  # a stop is under way: start nothing it would only kill (left queued, then dropped)
                queue.put_nowait(event)
                return
            await self._run(event)

    async def _run(self, event: _Event) -> None:
        event.attempts += 1
        task = asyncio.get_running_loop().create_task(
            self.functions.invoke(event.function, event.payload, event.request_id))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        outcome = await task
        if outcome.status == "ok":
            return
        spec = self.functions.pools[event.function].spec
        error_type = (outcome.error or {}).get("errorType")
        too_old = time.monotonic() - event.received > spec.async_max_age
        if event.attempts <= spec.async_retries and not too_old and not self.closed:
            delay = self.retry_delays[min(event.attempts, len(self.retry_delays)) - 1]
            log.warning("async invoke failed; retrying", extra={
                "function": event.function, "request_id": event.request_id, "attempt": event.attempts,
                "outcome": outcome.status, "error_type": error_type, "retry_in_s": delay})
            self._start(self._retry_later(event, delay))
            return
        log.error("async event dropped", extra={
            "function": event.function, "request_id": event.request_id, "attempts": event.attempts,
            "outcome": outcome.status, "error_type": error_type,
            "reason": "shutdown" if self.closed else "too_old" if too_old else "retries_exhausted"})

    async def _retry_later(self, event: _Event, delay: float) -> None:
        self._retrying += 1
        try:
            await asyncio.sleep(delay)
            self._queue(event.function).put_nowait(event)
        finally:
            self._retrying -= 1

    @property
    def pending(self) -> int:
        """Events queued, waiting for a retry, or running."""
        return sum(q.qsize() for q in self._queues.values()) + len(self._running) + self._retrying

    async def join(self, within: float) -> bool:
        """Wait until nothing is queued, running or waiting for a retry; False if that takes longer."""
        deadline = time.monotonic() + within
        while self.pending:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def close(self, grace: float = 5.0) -> None:
        """Start no more queued events; give the running ones up to `grace` seconds, then cancel them.

        Starting queued events during a stop would only begin answers that the stop then kills. What is not
        run is dropped (logged): a `complete` event's question stays `queued` and the next start hands it to
        `complete` again (eneo.answers.recovery.resume_answers); one cut off mid-answer is failed then, with
        the text that had streamed kept as its partial answer.
        """
        self.closing = True
        if self._running:
            await asyncio.wait(set(self._running), timeout=grace)
        self.closed = True
        queued = sum(q.qsize() for q in self._queues.values()) + self._retrying
        cut_off = len(self._running)
        for task in (*self._tasks, *self._running):
            task.cancel()
        await asyncio.gather(*self._tasks, *self._running, return_exceptions=True)
        if queued or cut_off:
            log.warning("async events not finished at shutdown", extra={"queued": queued, "cut_off": cut_off})


class LambdaApi:
    """ASGI app: the Invoke operation of the Lambda API, for the template's functions."""

    def __init__(self, template: StackTemplate, functions: FunctionHost, invoker: AsyncInvoker,
                 credentials: Credentials | None = None) -> None:
        self.template = template
        self.functions = functions
        self.invoker = invoker
        self.credentials = credentials or Credentials.from_env()
        self._by_name = {spec.name: lid for lid, spec in template.functions.items()}
        self._inflight: set[asyncio.Task[Invocation]] = set()  # held, so a caller leaving cannot lose them

    def function_of(self, name: str) -> str | None:
        """A function's logical id from its name, ARN or partial ARN (`123456789012:function:name`)."""
        parts = name.split(":")
        if parts[:3] == ["arn", "aws", "lambda"]:
            if len(parts) < 7 or parts[3] != self.template.region or parts[4] != self.template.account_id:
                return None
            parts = parts[5:]
        elif len(parts) >= 3 and parts[1] == "function":
            if parts[0] != self.template.account_id:
                return None
            parts = parts[1:]
        if parts[0] == "function":
            parts = parts[1:]
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1] != "$LATEST"):
            return None
        return self._by_name.get(parts[0])

    def _arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.template.region}:{self.template.account_id}:function:{name}"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        t0 = time.perf_counter()
        request_id = str(uuid.uuid4())
        status, headers, body, function, kind = await self._handle(scope, receive, request_id)
        headers = [("x-amzn-requestid", request_id), ("content-length", str(len(body))), *headers]
        await send({"type": "http.response.start", "status": status,
                    "headers": [(k.encode(), v.encode()) for k, v in headers]})
        await send({"type": "http.response.body", "body": body})
        log.info("invoke", extra={"function": function, "invocation_type": kind, "status": status,
                                  "request_id": request_id, "ms": round((time.perf_counter() - t0) * 1000, 1)})

    async def _handle(self, scope: dict[str, Any], receive: Any,
                      request_id: str) -> tuple[int, list[tuple[str, str]], bytes, str, str]:
        raw = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        kind = headers.get("x-amz-invocation-type", "RequestResponse")
        body = await read_body(receive, MAX_PAYLOAD_BYTES)
        if body is None:
            return (*_error(413, "RequestEntityTooLargeException",
                            f"Request must be smaller than {MAX_PAYLOAD_BYTES} bytes"), "-", kind)
        try:
            verify_asgi(scope, body, self.credentials)
        except SignatureRefused as refused:
            log.warning("invoke refused: unsigned or wrongly signed", extra={"reason": refused.code})
            return (*_error(403, refused.aws_error_type, refused.message), "-", kind)
        if scope["method"] != "POST" or not (raw.startswith(_PATH_PREFIX) and raw.endswith(_PATH_SUFFIX)):
            return (*_error(404, "ResourceNotFoundException", "Unknown operation"), "-", kind)
        name = unquote(raw[len(_PATH_PREFIX):-len(_PATH_SUFFIX)])
        qualifier = parse_qs(scope.get("query_string", b"").decode()).get("Qualifier", [None])[0]
        function = self.function_of(f"{name}:{qualifier}" if qualifier and ":" not in name else name)
        if function is None:
            target = name if name.startswith("arn:") else self._arn(name)
            return (*_error(404, "ResourceNotFoundException", f"Function not found: {target}"), name, kind)
        if kind not in ("RequestResponse", "Event", "DryRun"):
            return (*_error(400, "InvalidParameterValueException",
                            f"Unsupported invocation type {kind!r}"), function, kind)
        limit = MAX_EVENT_BYTES if kind == "Event" else MAX_PAYLOAD_BYTES
        if len(body) > limit:
            return (*_error(413, "RequestEntityTooLargeException",
                            f"Request must be smaller than {limit} bytes for the {kind} invocation type"),
                    function, kind)
        try:
            payload = json.loads(body) if body.strip() else {}
        except ValueError:
            return (*_error(400, "InvalidRequestContentException", "Could not parse request body into json"),
                    function, kind)
        if kind == "DryRun":
            return 204, [], b"", function, kind
        if kind == "Event":
            self.invoker.submit(function, payload, request_id)
            return 202, [], b"", function, kind
        return (*await self._invoke(function, payload, request_id), function, kind)

    async def _invoke(self, function: str, payload: Any, request_id: str) -> tuple[int, list[tuple[str, str]], bytes]:
        # A caller that goes away must not cancel the invoke halfway (the worker would lose step).
        task = asyncio.get_running_loop().create_task(self.functions.invoke(function, payload, request_id))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        outcome = await asyncio.shield(task)
        headers = [("x-amz-executed-version", "$LATEST"), ("content-type", "application/json")]
        if outcome.status == "ok":
            return 200, headers, json.dumps(outcome.result).encode()
        if outcome.status == "too_large":
            return _error(413, "RequestEntityTooLargeException", (outcome.error or {}).get("errorMessage", ""))
        error = dict(outcome.error or {}) | {"requestId": request_id}
        if outcome.status == "timeout":  # Lambda reports a timeout as its message only
            error = {"errorMessage": f"{request_id} {error.get('errorMessage')}", "errorType": "Sandbox.Timedout"}
        return 200, [*headers, ("x-amz-function-error", "Unhandled")], json.dumps(error).encode()


def _error(status: int, error_type: str, message: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """Lambda's error shape: boto3 reads the type from x-amzn-ErrorType and the message from the body."""
    body = json.dumps({"Type": "User", "Message": message, "message": message}).encode()
    return status, [("x-amzn-errortype", error_type), ("content-type", "application/json")], body

