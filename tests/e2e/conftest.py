"""The `stack` fixture: `eneo-local up` as a real subprocess, one per test session.

It starts on a fresh data folder with a free port and known credentials, waits for the
`eneo-local ready:` line, and at the end stops with SIGINT (Ctrl-C) and checks the exit code is 0.
`stack.restart()` stops and starts it again on the same data; tests that call it are marked
`restarts_stack` and run last, so the other tests share one warm stack.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

READY = re.compile(r"^eneo-local ready: (http://\S+)$", re.MULTILINE)
START_TIMEOUT = 180.0  # 20-40 s on a quiet machine; a loaded one needed over 90 s
STOP_TIMEOUT = 30.0
# The stack must start its own embedded services, whatever other suites put in the environment.
_NOT_INHERITED = ("DATABASE_URL", "DATABASE_MIGRATION_URL", "REDIS_URL", "S3_ENDPOINT_URL", "ENEO_PORT",
                  "ENEO_DATA_DIR", "ENEO_TEMPLATE", "ENEO_WS_PORT", "ENEO_LAMBDA_PORT",
                  "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")  # the stack generates its own (secrets.json)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "restarts_stack: restarts the session's stack; runs after the others")
    config.addinivalue_line("markers", "reads_all_logs: checks the stack's whole output; runs last of all")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: (item.get_closest_marker("reads_all_logs") is not None,
                                 item.get_closest_marker("restarts_stack") is not None))


@dataclass
class Stack:
    """A running `eneo-local up` and what a test needs to talk to it."""

    data_dir: Path
    log_path: Path
    admin_email: str = "admin@e2e.example.org"
    admin_password: str = "e2e admin passphrase 0001"
    super_api_key: str = "e2e-super-api-key-0123456789abcdef0123456789"
    jwt_secret: str = "e2e-jwt-secret-0123456789abcdef0123456789abcdef"
    base_url: str = ""
    s3_endpoint_url: str = ""
    ws_url: str = ""  # ws://127.0.0.1:<port>/<stage>, when the template has a WebSocket API
    endpoints: dict[str, Any] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)  # a test module's own settings, over the defaults

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
        return env | {
            "ENEO_ADMIN_EMAIL": self.admin_email, "ENEO_ADMIN_PASSWORD": self.admin_password,
            "SUPER_API_KEY": self.super_api_key, "JWT_SECRET": self.jwt_secret, "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1", "ENEO_QUEUE_VISIBILITY_SECONDS": "2",  # failed messages come back quickly
            # One scripted user here makes thousands of requests a minute (the cross-tenant table reads tenant
            # A's resources back after every case): far past the 1200 a person does, which tests/integration/
            # test_usage.py checks. On a quiet machine the table ran into 429s under the default.
            "RATE_LIMIT_USER_PER_MINUTE": "50000", "ENEO_WORKER_ENV_PASSTHROUGH": "RATE_LIMIT_USER_PER_MINUTE",
        } | self.extra_env

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self) -> None:
        assert self.process is None, "already running"
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own CLI
                [sys.executable, "-m", "eneo_local", "up", "--data-dir", str(self.data_dir), "--port", "0",
                 "--ws-port", "0"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env(),
                start_new_session=True)  # its own process group: _kill can end what it started too
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if match := READY.search(self.output()[offset:]):
                break
            if self.process.poll() is not None or time.monotonic() > deadline:
                code = self.process.poll()
                self._kill()
                pytest.fail(f"eneo-local did not get ready (exit code {code}); its output:\n"
                            f"{self.output()[offset:][-8000:]}")
            time.sleep(0.1)
        self.base_url = match.group(1)
        self.endpoints = json.loads((self.data_dir / "endpoints.json").read_text())
        self.s3_endpoint_url = self.endpoints["s3_endpoint_url"]
        self.ws_url = self.endpoints.get("ws_url", "")

    def stop(self) -> int:
        """Ctrl-C, as a developer would; the exit code (the process is gone either way)."""
        assert self.process is not None, "not running"
        self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._kill()
            pytest.fail(f"eneo-local did not stop within {STOP_TIMEOUT:.0f}s of SIGINT:\n{self.output()[-4000:]}")
        self.process = None
        return code

    def restart(self) -> None:
        code = self.stop()
        assert code == 0, f"eneo-local exited with {code}:\n{self.output()[-4000:]}"
        self.start()

    def _kill(self) -> None:
        """Ctrl-C first, so the stack stops the Postgres, Redis and model server it started; then its group."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self.process = None

    def secret(self, name: str) -> str:
        """A secret the stack generated and keeps in <data_dir>/secrets.json (ENCRYPTION_KEY, ...)."""
        return str(json.loads((self.data_dir / "secrets.json").read_text())[name.lower()])

    def s3(self) -> Any:
        return boto3.client("s3", endpoint_url=self.s3_endpoint_url, region_name=self.endpoints["region"],
                            aws_access_key_id="local", aws_secret_access_key=self.secret("aws_secret_access_key"))

    def bucket(self, logical_id: str = "DocumentsBucket") -> str:
        return str(self.endpoints["buckets"][logical_id])


def running_stack(prefix: str = "eneo-e2e-", **extra_env: str) -> Iterator[Stack]:
    """A stack started on a fresh folder, stopped with Ctrl-C (exit code 0 checked) and removed after."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    running = Stack(data_dir=root / "data", log_path=root / "eneo-local.log", extra_env=extra_env)
    running.start()
    try:
        yield running
    finally:
        if running.process is not None:
            code = running.stop()
            assert code == 0, f"eneo-local exited with {code}:\n{running.output()[-4000:]}"
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    yield from running_stack()
