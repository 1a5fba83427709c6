"""Latency of the local gateway: `GET /api/v1/spaces/` through `eneo-local` vs the same app served directly.

Both paths serve the spaces function's FastAPI app (functions/spaces/app.py) against the same
embedded Postgres and Redis, as the same logged-in user:

* gateway: client → eneo-local's gateway (API Gateway v2 event) → warm worker process → Mangum → app
* direct:  client → uvicorn serving `app` → app (the baseline)

Both servers run in their own processes (the stack as `eneo-local up`, the baseline as `uvicorn`),
the client in this one, with keep-alive connections. After a warm-up, requests alternate between the
two (gateway, direct, gateway, ...) so that drift in the machine's load hits both alike. It prints
p50/p99/mean for each and the gateway/direct ratios: the ratio is what the local emulation costs
per request (event building, one pipe round trip each way, JSON both ways), not the app's own time.

Run:  .venv/bin/python bench/gateway_latency.py [--requests 300] [--warmup 30]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
READY = re.compile(r"^eneo-local ready: (http://\S+)$", re.MULTILINE)
SECRETS = {
    "JWT_SECRET": "bench-jwt-secret-0123456789abcdef0123456789",
    "SUPER_API_KEY": "bench-super-key-0123456789abcdef0123456789",
    "ENCRYPTION_KEY": "bench-encryption-key-0123456789abcdef0123",  # the functions refuse to start without one
}
ADMIN = ("admin@bench.example.org", "bench passphrase 0001")
PATH = "/api/v1/spaces/"
_NOT_INHERITED = ("DATABASE_URL", "DATABASE_MIGRATION_URL", "REDIS_URL", "S3_ENDPOINT_URL", "ENEO_PORT",
                  "ENEO_DATA_DIR")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(predicate: object, what: str, process: subprocess.Popen[bytes], log: Path,
              seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():  # type: ignore[operator]
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start; its output:\n{log.read_text(errors='replace')[-6000:]}")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def local_stack(work: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """`eneo-local up` on a fresh data folder; yields its URL and endpoints.json."""
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    env |= SECRETS | {"ENEO_ADMIN_EMAIL": ADMIN[0], "ENEO_ADMIN_PASSWORD": ADMIN[1], "PYTHONUNBUFFERED": "1"}
    log = work / "eneo-local.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "eneo_local", "up", "--data-dir", str(work / "data"), "--port", "0"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    try:
        _wait_for(lambda: READY.search(log.read_text(errors="replace")), "eneo-local", process, log)
        url = READY.search(log.read_text(errors="replace")).group(1)  # type: ignore[union-attr]
        yield url, json.loads((work / "data" / "endpoints.json").read_text())
    finally:
        _stop(process)


@contextmanager
def direct_app(work: Path, endpoints: dict[str, str]) -> Iterator[str]:
    """functions/spaces/app.py's `app` under uvicorn, with the environment the stack gives it."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED} | SECRETS | {
        "DATABASE_URL": endpoints["database_url"], "REDIS_URL": endpoints["redis_url"],
        "S3_ENDPOINT_URL": endpoints["s3_endpoint_url"], "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO")}
    log = work / "uvicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "uvicorn", "app:app", "--app-dir", str(ROOT / "functions" / "spaces"),
             "--host", "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)

    def listening() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    try:
        _wait_for(listening, "uvicorn", process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process, signal.SIGTERM)


def _timed_get(client: httpx.Client, headers: dict[str, str]) -> float:
    t0 = time.perf_counter()
    r = client.get(PATH, headers=headers)
    elapsed = time.perf_counter() - t0
    if r.status_code != 200:
        raise SystemExit(f"GET {client.base_url}{PATH} answered {r.status_code}: {r.text[:300]}")
    return elapsed * 1000


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50": statistics.median(ordered), "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
            "mean": statistics.fmean(ordered)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="timed requests per target (300)")
    parser.add_argument("--warmup", type=int, default=30, help="untimed requests per target first (30)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="eneo-bench-"))
    try:
        with local_stack(work) as (gateway_url, endpoints), direct_app(work, endpoints) as direct_url, \
                httpx.Client(base_url=gateway_url, timeout=30) as gateway, \
                httpx.Client(base_url=direct_url, timeout=30) as direct:
            r = gateway.post("/api/v1/users/login/token/", data={"username": ADMIN[0], "password": ADMIN[1]})
            if r.status_code != 200:
                raise SystemExit(f"login failed ({r.status_code}): {r.text[:300]}")
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            for _ in range(args.warmup):
                _timed_get(gateway, headers)
                _timed_get(direct, headers)
            samples: dict[str, list[float]] = {"gateway": [], "direct": []}
            for _ in range(args.requests):
                samples["gateway"].append(_timed_get(gateway, headers))
                samples["direct"].append(_timed_get(direct, headers))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    stats = {name: _summary(values) for name, values in samples.items()}
    print(f"GET {PATH} as a logged-in user, {args.requests} requests each, interleaved (ms)")
    print(f"{'target':<10}{'p50':>9}{'p99':>9}{'mean':>9}")
    for name in ("direct", "gateway"):
        s = stats[name]
        print(f"{name:<10}{s['p50']:>9.2f}{s['p99']:>9.2f}{s['mean']:>9.2f}")
    g, d = stats["gateway"], stats["direct"]
    print(f"ratio gateway/direct: p50 {g['p50'] / d['p50']:.2f}x, p99 {g['p99'] / d['p99']:.2f}x, "
          f"mean {g['mean'] / d['mean']:.2f}x (overhead p50 {g['p50'] - d['p50']:+.2f} ms)")


if __name__ == "__main__":
    main()
