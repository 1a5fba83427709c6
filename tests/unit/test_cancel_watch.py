"""CancelWatch: how an answer's writer learns that the asker stopped it, and what that costs in Redis calls."""

import asyncio
import time

from eneo.answers.cancel import CancelWatch


class CountingRedis:
    """Answers EXISTS for the cancel key; counts the calls (each one a round trip on a real Redis)."""

    def __init__(self) -> None:
        self.calls = 0
        self.cancelled = False

    async def exists(self, key: str) -> int:
        self.calls += 1
        return int(self.cancelled)


async def test_while_writes_check_the_key_the_watcher_makes_no_calls_of_its_own() -> None:
    redis = CountingRedis()
    watch = CancelWatch(redis, "q", interval=0.05)  # type: ignore[arg-type]

    async def tokens() -> None:  # a delta every 10 ms, each write asking for the key in its pipeline
        for _ in range(30):
            await asyncio.sleep(0.01)
            watch.observe(0)

    assert await watch.run(tokens()) is True
    assert redis.calls <= 2, f"{redis.calls} calls while writes already asked"


async def test_a_silent_stream_is_checked_every_interval_and_a_cancel_stops_the_work() -> None:
    redis = CountingRedis()
    watch = CancelWatch(redis, "q", interval=0.05)  # type: ignore[arg-type]
    closed = asyncio.Event()

    async def silent_provider() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            closed.set()  # what closes the provider's HTTP response

    async def stop_later() -> None:
        await asyncio.sleep(0.3)
        redis.cancelled = True

    stopper = asyncio.create_task(stop_later())
    started = time.monotonic()
    assert await watch.run(silent_provider()) is False
    took = time.monotonic() - started
    await stopper
    assert closed.is_set()
    assert 0.3 <= took < 0.3 + 1.0, took  # within about one interval (generous: a busy CI machine)
    assert 3 <= watch.own_checks <= 12, watch.own_checks


async def test_a_failure_of_the_work_is_raised_not_taken_for_a_cancel() -> None:
    watch = CancelWatch(CountingRedis(), "q", interval=0.05)  # type: ignore[arg-type]

    async def broken() -> None:
        await asyncio.sleep(0.01)
        raise ValueError("provider broke")

    try:
        await watch.run(broken())
    except ValueError:
        pass
    else:
        raise AssertionError("the work's failure was swallowed")


async def test_redis_trouble_does_not_stop_the_answer() -> None:
    class Down(CountingRedis):
        async def exists(self, key: str) -> int:
            raise ConnectionError("redis down")

    watch = CancelWatch(Down(), "q", interval=0.02)  # type: ignore[arg-type]

    async def work() -> None:
        await asyncio.sleep(0.15)

    assert await watch.run(work()) is True
