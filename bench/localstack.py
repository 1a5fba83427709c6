"""`eneo-local up` for benchmarks: a fresh data folder, free ports, known secrets, stopped with Ctrl-C.

Benchmarks talk to the stack as clients do (HTTP, WebSocket, S3); `endpoints.json` tells them where.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eneo_local.services import PG_MAX_CONNECTIONS

READY = re.compile(r"^eneo-local ready: (http://\S+)$", re.MULTILINE)
SECRETS = {
    "JWT_SECRET": "bench-jwt-secret-0123456789abcdef0123456789",
    "SUPER_API_KEY": "bench-super-key-0123456789abcdef0123456789",
}
_NOT_INHERITED = ("DATABASE_URL", "DATABASE_MIGRATION_URL", "REDIS_URL", "S3_ENDPOINT_URL", "ENEO_PORT",
                  "ENEO_DATA_DIR", "ENEO_TEMPLATE", "ENEO_WS_PORT", "ENEO_LAMBDA_PORT")


@dataclass
class Stack:
    url: str
    ws_url: str
    endpoints: dict[str, Any]
    log: Path


def _start(work: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Stack]:
    data, log = work / "data", work / "eneo-local.log"
    offset = log.stat().st_size if log.exists() else 0
    with log.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "eneo_local", "up", "--data-dir", str(data), "--port", "0", "--ws-port", "0"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 120
    while not (match := READY.search(log.read_text(errors="replace")[offset:])):
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            raise SystemExit(f"eneo-local did not start; its output:\n{log.read_text(errors='replace')[-6000:]}")
        time.sleep(0.1)
    endpoints = json.loads((data / "endpoints.json").read_text())
    return process, Stack(match.group(1), endpoints["ws_url"], endpoints, log)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C, as a developer would; killed if it has not stopped within 30 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def local_stack(work: Path, extra_env: dict[str, str], max_connections: int = 0) -> Iterator[Stack]:
    """`eneo-local up` on a fresh data folder and free ports; stopped with SIGINT on exit, even on failure.

    `max_connections`: Postgres's, at least (ENEO_PG_MAX_CONNECTIONS: the stack raises it as it starts
    Postgres, see eneo_local.services); every warm instance keeps its own pooled connection."""
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    # The benchmarks' fake model servers listen on 127.0.0.1, which providers may use only when allowed.
    env |= SECRETS | {"PYTHONUNBUFFERED": "1", "ENEO_LOCAL_MODEL": "off",
                      "OUTBOUND_ALLOWED_HOSTS": "127.0.0.1"} | extra_env
    if max_connections:
        env["ENEO_PG_MAX_CONNECTIONS"] = str(max(max_connections, PG_MAX_CONNECTIONS))
    work.mkdir(parents=True, exist_ok=True)
    process, stack = _start(work, env)
    try:
        yield stack
    finally:
        _stop(process)


def post(http: Any, path: str, headers: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    """POST that must succeed (200/201/202): a benchmark stops at the first refusal, saying why."""
    r = http.post(path, headers=headers, **kwargs)
    if r.status_code not in (200, 201, 202):
        raise SystemExit(f"POST {path} answered {r.status_code}: {r.text[:300]}")
    result: dict[str, Any] = r.json()
    return result


def new_admin(http: Any) -> dict[str, str]:
    """A new tenant and its admin, made through the sysadmin key as the e2e tests make them; the admin's
    auth headers."""
    from tests.e2e.actors import new_tenant

    return new_tenant(http, {"X-API-Key": SECRETS["SUPER_API_KEY"]})[1].headers
