"""One function as a plain HTTP server: the entry point of the open-source FaaS images (infra/openfaas/).

OpenFaaS (and Knative) run a container that answers HTTP on one port; our handlers take Lambda events.
This server turns what the platform sends into the event the handler would get on AWS, with the builders
the local stack uses (http_events.py for API Gateway's payload v2.0, runtime.py's LambdaContext):

- ``http``: every request becomes a payload v2.0 event; the result becomes the response.
- ``records``: the POSTed JSON is the event as is: MinIO's bucket-notification webhook (S3 records) or a
  connector's SQS-shaped batch. A non-empty ``batchItemFailures`` answers 500, so MinIO delivers again.
- ``schedule``: any POST (the cron-connector's) becomes EventBridge's Scheduled Event.
- ``invoke``: the POSTed JSON is an asynchronous invoke's payload (the queue-worker delivers the body of
  ``/async-function/<name>``); Lambda's Invoke API path is taken too, so boto3 callers reach it directly.

One event at a time, in the main thread, as a Lambda instance runs (Mangum and ``eneo.core.aio`` keep one
event loop per process). ``GET /_/health`` answers 200 once the handler is imported: the platform's
readiness probe (OpenFaaS's ``/_/health``). Nothing of a request's body is logged.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import queue
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from eneo_local.http_events import (
    HttpRequest,
    HttpResponse,
    MalformedResponse,
    build_event,
    message_response,
    to_response,
)
from eneo_local.routes import Match
from eneo_local.runtime import LambdaContext

log = logging.getLogger("eneo_local.faas")
KINDS = ("http", "records", "schedule", "invoke")
HEALTH_PATH = "/_/health"
MAX_BODY = 6 * 1024 * 1024  # Lambda's synchronous payload limit; API Gateway's is lower still
Handler = Callable[[Any, Any], Any]


class BadEvent(ValueError):
    """A request that is no event of this function's kind: answered 400 with the reason."""


@dataclass(frozen=True)
class Config:
    """The function this container serves, from its environment (stack.yml sets these)."""

    kind: str
    handler: str = "app.handler"
    code_dir: str = "/var/task"
    port: int = 8080
    timeout_s: float = 30.0
    function_name: str = "function"
    region: str = "us-east-1"
    account_id: str = "000000000000"
    schedule_rule: str = ""

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Config:
        kind = env.get("ENEO_EVENT", "http")
        if kind not in KINDS:
            raise ValueError(f"ENEO_EVENT={kind!r}: expected one of {', '.join(KINDS)}")
        name = env.get("AWS_LAMBDA_FUNCTION_NAME", "function")
        return cls(kind=kind, handler=env.get("ENEO_HANDLER", "app.handler"),
                   code_dir=env.get("LAMBDA_TASK_ROOT", "/var/task"), port=int(env.get("PORT", "8080")),
                   timeout_s=float(env.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "30")), function_name=name,
                   region=env.get("AWS_REGION", "us-east-1"), account_id=env.get("ENEO_ACCOUNT_ID", "000000000000"),
                   schedule_rule=env.get("ENEO_SCHEDULE_RULE", f"{name}-schedule"))


@dataclass(frozen=True)
class _Route:
    """What build_event reads of a route: the platform routed the request already, so `$default`."""

    route_key: str = "$default"


def scheduled_event(config: Config, now: datetime | None = None) -> dict[str, Any]:
    """EventBridge's Scheduled Event, the shape eneo_local.schedules hands the same functions."""
    now = now or datetime.now(UTC)
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": config.account_id, "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": config.region,
            "resources": [f"arn:aws:events:{config.region}:{config.account_id}:rule/{config.schedule_rule}"],
            "detail": {}}


def _json_body(body: bytes) -> Any:
    if not body.strip():
        raise BadEvent("the request has no body: expected a JSON event")
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise BadEvent(f"the body is not JSON ({exc.msg} at {exc.pos})") from None


def to_event(config: Config, request: HttpRequest, request_id: str) -> dict[str, Any]:
    """The Lambda event for one platform request (raises BadEvent)."""
    if config.kind == "http":
        host = request.header("host") or "localhost"
        match = Match(route=cast(Any, _Route()), path_parameters={})
        return build_event(request, match, api_id=config.function_name, account_id=config.account_id,
                           request_id=request_id, domain_name=host.split(":", 1)[0])
    if request.method != "POST":
        raise BadEvent(f"{config.kind} functions take POST, not {request.method}")
    if config.kind == "schedule":
        return scheduled_event(config)
    event = _json_body(request.body)
    if not isinstance(event, dict):
        raise BadEvent("the event must be a JSON object")
    if config.kind == "records" and not isinstance(event.get("Records"), list):
        raise BadEvent("expected S3 or SQS records: a JSON object with a 'Records' list")
    return cast(dict[str, Any], event)


def to_reply(config: Config, result: Any) -> HttpResponse:
    """The HTTP answer to the platform for a handler's result."""
    if config.kind == "http":
        return to_response(result)
    failures = result.get("batchItemFailures") if isinstance(result, dict) else None
    status = 500 if failures else 200  # MinIO and connectors deliver again on a non-2xx answer
    return HttpResponse(status, [("content-type", "application/json")], json.dumps(result).encode())


@dataclass
class _Job:
    event: dict[str, Any]
    request_id: str
    deadline_ms: int
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class FunctionServer:
    """The HTTP server (threads read requests) and the handler (the main thread runs one event at a time)."""

    def __init__(self, config: Config, handler: Handler) -> None:
        self.config = config
        self.handler = handler
        self.jobs: queue.Queue[_Job | None] = queue.Queue()
        self.ready = threading.Event()
        self.httpd = ThreadingHTTPServer(("0.0.0.0", config.port), _request_handler(self))  # noqa: S104 - in a container
        self.httpd.daemon_threads = True

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def submit(self, event: dict[str, Any], request_id: str) -> _Job:
        deadline_ms = int((time.time() + self.config.timeout_s) * 1000)
        job = _Job(event, request_id, deadline_ms)
        self.jobs.put(job)
        return job

    def run_jobs(self) -> None:
        """The main thread's loop: each event with a fresh LambdaContext; None stops it."""
        self.ready.set()
        while (job := self.jobs.get()) is not None:
            arn = f"arn:aws:lambda:{self.config.region}:{self.config.account_id}:function:{self.config.function_name}"
            try:
                job.result = self.handler(job.event, LambdaContext(job.request_id, job.deadline_ms, arn))
            except Exception as exc:
                job.error = exc
                log.error("invocation %s failed: %s", job.request_id, type(exc).__name__)
            job.done.set()

    def serve(self) -> None:
        thread = threading.Thread(target=self.httpd.serve_forever, name="http", daemon=True)
        thread.start()
        try:
            self.run_jobs()
        finally:
            self.httpd.shutdown()

    def stop(self) -> None:
        self.jobs.put(None)


def _request_handler(server: FunctionServer) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """No access log: paths can carry tokens (the platform's gateway logs requests)."""

        def _handle(self) -> None:
            path, _, query = self.path.partition("?")
            if path == HEALTH_PATH and self.command == "GET":
                ready = server.ready.is_set()
                return self._send(HttpResponse(200 if ready else 503, [("content-type", "text/plain")],
                                               b"OK" if ready else b"starting"))
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.close_connection = True  # the body stays unread
                return self._send(message_response(413, "Request Entity Too Large"))
            request = HttpRequest(self.command, path, query, list(self.headers.items()), self.rfile.read(length),
                                  self.client_address[0])
            request_id = str(uuid.uuid4())
            try:
                event = to_event(server.config, request, request_id)
            except BadEvent as exc:
                return self._send(message_response(400, str(exc)))
            job = server.submit(event, request_id)
            if server.config.kind == "invoke" and self.headers.get("X-Amz-Invocation-Type") == "Event":
                # Lambda's asynchronous invoke: accepted now (202), run in turn. The queue-worker's delivery
                # waits for the result instead, so its retries and the platform's concurrency limit hold.
                return self._send(HttpResponse(202, [("content-type", "application/json")], b""))
            if not job.done.wait(server.config.timeout_s + 5):
                return self._send(message_response(504, "Endpoint request timed out"))
            if job.error is not None:
                return self._send(message_response(500, "Internal Server Error"))
            try:
                self._send(to_reply(server.config, job.result))
            except MalformedResponse:
                self._send(message_response(500, "Internal Server Error"))

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

        def _send(self, response: HttpResponse) -> None:
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

    return RequestHandler


def load_handler(config: Config) -> Handler:
    """Import the handler as Lambda's init phase does: the code folder first on sys.path, and as cwd."""
    os.chdir(config.code_dir)
    sys.path.insert(0, config.code_dir)
    module_name, _, attr = config.handler.rpartition(".")
    return cast(Handler, getattr(importlib.import_module(module_name), attr))


def main() -> None:
    """`python -m eneo_local.faas`: import the handler, then serve on $PORT (8080)."""
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), stream=sys.stderr)
    config = Config.from_env(dict(os.environ))
    started = time.perf_counter()
    handler = load_handler(config)
    server = FunctionServer(config, handler)
    log.info("%s (%s) ready on :%d in %.0f ms", config.function_name, config.kind, server.port,
             (time.perf_counter() - started) * 1000)
    server.serve()


if __name__ == "__main__":
    main()
