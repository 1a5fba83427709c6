"""Inside a worker process: a small Lambda runtime for one function.

Like a Lambda execution environment, the process gets the function's environment (and nothing of
the developer's shell beyond a few basics), its CodeUri as working directory and first sys.path
entry, and imports the handler module once (the "init" phase). It then serves one event at a time,
in the main thread, because Mangum and other handlers call `asyncio.get_event_loop()`.

Events and results cross the pipe as JSON bytes, as they cross Lambda's API: a handler that returns
something JSON cannot carry fails here as it would there (Runtime.MarshalError).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import signal
import sys
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

# Messages. Parent -> worker: ("invoke", request_id, event_json, deadline_epoch_ms, invoked_arn) | ("stop",)
# Worker -> parent: ("ready", init_ms) | ("init_error", error) | ("result", request_id, json) |
# ("error", request_id, error)
Message = tuple[Any, ...]


class LambdaContext:
    """The context object of Lambda's Python runtime (awslambdaric), field for field.

    As there, `memory_limit_in_mb` and `function_version` are strings read from the environment.
    """

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def __repr__(self) -> str:
        return f"LambdaContext(function_name={self.function_name!r}, aws_request_id={self.aws_request_id!r})"


def _error(exc: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }


def _log_error(function: str, what: str, error: dict[str, Any]) -> None:
    """Lambda writes unhandled errors to the function's log; so do we (stderr, one JSON line)."""
    entry = {"level": "ERROR", "logger": "eneo_local.runtime", "function": function, "message": what,
             "errorType": error["errorType"], "errorMessage": error["errorMessage"],
             "stackTrace": "".join(error["stackTrace"])}
    print(json.dumps(entry), file=sys.stderr, flush=True)


def _exit_now() -> None:
    """End the process at once, as Lambda ends an environment, without the interpreter's own shutdown.

    That shutdown (atexit hooks, finalising every module the handler imported) took over the stop's 3 s
    grace per worker on a loaded machine, so each stop of the stack waited seconds for workers it then
    killed anyway. Nothing is in flight when a worker is told to stop; the logs are flushed first.
    """
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)


def main(conn: Connection, code_uri: str, handler: str, env: dict[str, str]) -> None:
    """Entry point of the worker process (multiprocessing, spawn context)."""
    # Ctrl-C in a terminal reaches the whole process group; the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)
    os.environ.clear()
    os.environ.update(env)
    time.tzset()
    os.chdir(code_uri)
    sys.path.insert(0, code_uri)
    function = env.get("AWS_LAMBDA_FUNCTION_NAME", handler)

    t0 = time.perf_counter()
    module_name, _, attr = handler.rpartition(".")
    try:
        if not Path(code_uri).is_dir():
            raise ImportError(f"CodeUri {code_uri} is not a folder")
        fn = getattr(importlib.import_module(module_name), attr)
    except Exception as exc:
        error = _error(exc, "Runtime.ImportModuleError" if isinstance(exc, ImportError) else None)
        _log_error(function, f"init failed for handler {handler}", error)
        conn.send(("init_error", error))
        return
    conn.send(("ready", (time.perf_counter() - t0) * 1000))

    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent went away
            return
        if message[0] != "invoke":
            _exit_now()
        _, request_id, event_json, deadline_ms, arn = message
        context = LambdaContext(request_id, deadline_ms, arn)
        try:
            result = fn(json.loads(event_json), context)
        except Exception as exc:
            error = _error(exc)
            _log_error(function, "unhandled exception in handler", error)
            conn.send(("error", request_id, error))
            continue
        try:
            payload = json.dumps(result).encode()
        except (TypeError, ValueError) as exc:
            error = _error(exc, "Runtime.MarshalError")
            _log_error(function, "handler result is not JSON", error)
            conn.send(("error", request_id, error))
            continue
        conn.send(("result", request_id, payload))
