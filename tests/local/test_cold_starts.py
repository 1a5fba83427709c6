"""A burst at a function with one warm instance and a slow import (ECHO_INIT_SECONDS): requests take whichever
instance is free first, and instances start one at a time, as on a machine with few cores."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from eneo_local.template import load_template
from eneo_local.workers import FunctionPool, function_environment

FIXTURES = Path(__file__).parent / "fixtures"
INIT_SECONDS = 1.0


@pytest.fixture
async def pool() -> AsyncIterator[FunctionPool]:
    template = load_template(FIXTURES / "template.yaml", {"Secret": "s3cret-value"}, stack_name="t")
    spec = template.functions["EchoFunction"]
    env = function_environment(spec, template.region, template.account_id) | {"ECHO_INIT_SECONDS": str(INIT_SECONDS)}
    pool = FunctionPool(spec, env, f"arn:aws:lambda:{template.region}:{template.account_id}:function:{spec.name}",
                        max_instances=4, starts=asyncio.Semaphore(1))
    assert await pool.warm()
    try:
        yield pool
    finally:
        await pool.close()


async def call(pool: FunctionPool, path: str, seconds: float = 0) -> dict:
    outcome = await pool.invoke({"rawPath": path, "queryStringParameters": {"seconds": str(seconds)}})
    assert outcome.status == "ok", outcome.error
    return json.loads(outcome.result["body"])


async def test_quick_requests_take_the_warm_instance_rather_than_wait_for_cold_ones(pool: FunctionPool) -> None:
    t0 = time.monotonic()
    replies = await asyncio.gather(*(call(pool, "/items/x") for _ in range(4)))
    elapsed = time.monotonic() - t0
    assert elapsed < INIT_SECONDS, f"{elapsed:.1f} s: a request waited for an instance to import"
    assert len({r["pid"] for r in replies}) == 1, "the warm instance served them one after another"


async def test_instances_start_one_at_a_time_and_serve_the_line(pool: FunctionPool) -> None:
    replies = await asyncio.gather(*(call(pool, "/slow", 2.5) for _ in range(3)))
    started = sorted({r["pid"]: r["started"] for r in replies}.values())
    assert len(started) == 3, "two new instances joined the warm one"
    assert started[2] - started[1] >= INIT_SECONDS * 0.9, "the second import began after the first ended"
    assert pool.size == 3


async def test_kept_warm_instances_serve_a_burst_in_parallel_and_outlive_the_reaper(pool: FunctionPool) -> None:
    """A function fed by two SQS pollers keeps two instances (EventSources.start): both run the burst at
    once, none was started for it, and reaping idle instances leaves both."""
    pool.keep_warm(2)
    deadline = time.monotonic() + 30
    while len(pool._idle) < 2 and time.monotonic() < deadline:  # noqa: ASYNC110 - started by the pool itself
        await asyncio.sleep(0.05)
    assert pool.size == 2
    warm = {worker.pid for worker in pool._idle}
    replies = await asyncio.gather(*(call(pool, "/slow", 1.0) for _ in range(2)))
    assert {r["pid"] for r in replies} == warm, "each request took one of the kept instances"
    await pool.reap_idle(0)
    assert pool.size == 2
    pool.keep_warm(1)
    await pool.reap_idle(0)
    assert pool.size == 1
