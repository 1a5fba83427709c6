"""The Lambda Invoke API the functions in SAM CLI's containers call (AWS_ENDPOINT_URL_LAMBDA).

SAM CLI runs no asynchronous invokes (`sam local start-lambda` answers only RequestResponse), but the
sessions function hands every streamed question to `complete` with `InvocationType=Event`. This relay takes
those invokes as Lambda would (202), keeps each event for the tests to read, and runs `complete` in AWS's
runtime with `sam local invoke`, the event as sent. Every other invoke (the writers' wake-ups of the `ws`
function, whose relays run in the local stack's WebSocket API) goes on to the local stack's Lambda API.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

PATH_PREFIX = "/2015-03-31/functions/"


class LambdaRelay:
    def __init__(self, host: str, complete_name: str, run_complete: Callable[[dict[str, Any]], Any],
                 forward: Any) -> None:
        self.complete_name = complete_name
        self.events: list[dict[str, Any]] = []  # every event sent to complete, in order
        self.results: dict[str, Any] = {}  # question_id -> complete's response, or the exception it raised
        self._run_complete = run_complete
        self._forward = forward  # a boto3 Lambda client of the local stack
        self._threads: list[threading.Thread] = []
        self.autorun = True  # False: keep complete's events, run nothing (a test runs them itself)
        relay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not self.path.startswith(PATH_PREFIX) or not self.path.endswith("/invocations"):
                    return self._answer(404, {"Type": "User", "Message": f"no such route: {self.path}"})
                name = unquote(self.path[len(PATH_PREFIX):-len("/invocations")]).rsplit(":", 1)[-1]
                kind = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
                status, payload = relay.invoke(name, kind, body)
                self._answer(status, payload)

            def _answer(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="lambda-relay", daemon=True)
        self._thread.start()

    def invoke(self, name: str, kind: str, body: bytes) -> tuple[int, Any]:
        if name != self.complete_name:
            response = self._forward.invoke(FunctionName=name, InvocationType=kind, Payload=body)
            payload = response["Payload"].read() if "Payload" in response else b""
            return int(response["StatusCode"]), json.loads(payload) if payload else None
        event = json.loads(body)
        self.events.append(event)
        if self.autorun:
            thread = threading.Thread(target=self._complete, args=(event,), daemon=True)
            self._threads.append(thread)
            thread.start()
        return 202, None

    def _complete(self, event: dict[str, Any]) -> None:
        try:
            self.results[event["question_id"]] = self._run_complete(event)
        except Exception as exc:  # kept for the test that reads it
            self.results[event["question_id"]] = exc

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        for thread in self._threads:
            thread.join(120)
