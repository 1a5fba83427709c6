"""Adaptive batching of text deltas: written at once when the stream is idle, coalesced only while a write
is in flight, never reordered or lost, nothing left after flush."""

import asyncio
import random

import pytest

from eneo.answers.batching import (
    COOL_DOWN_FACTOR,
    MAX_COOL_DOWN,
    RECENT_WRITES,
    AdaptiveBatcher,
    IntervalBatcher,
    text_batcher,
)


class Stream:
    """Records `text` entries; each write takes `delay` seconds; the first `failures` writes fail."""

    def __init__(self, delay: float = 0.0, failures: int = 0) -> None:
        self.delay, self.failures = delay, failures
        self.entries: list[str] = []
        self.started = 0  # writes begun
        self.in_flight = 0
        self.most_in_flight = 0

    async def add(self, type_: str, data: dict[str, str]) -> str:
        assert type_ == "text"
        self.started += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.failures:
                self.failures -= 1
                raise ConnectionError("redis went away")
            self.entries.append(data["text"])
            return f"{len(self.entries)}-0"
        finally:
            self.in_flight -= 1


async def test_an_idle_stream_writes_each_delta_at_once() -> None:
    stream = Stream(delay=0.002)
    batcher = AdaptiveBatcher(stream)
    for i in range(5):
        await batcher.add(f"t{i} ")
        await asyncio.sleep(0)  # one turn of the loop: its write has begun, no later delta was needed
        assert stream.started == i + 1
        await asyncio.sleep(MAX_COOL_DOWN + 0.01)  # tokens slower than a write and its longest cool-down
    await batcher.flush()
    assert stream.entries == [f"t{i} " for i in range(5)]
    assert batcher.writes == 5 and not batcher.pending


async def test_a_delta_during_the_cool_down_waits_at_most_the_cool_down() -> None:
    write = 0.002
    stream = Stream(delay=write)
    batcher = AdaptiveBatcher(stream)
    await batcher.add("a ")
    await asyncio.sleep(write + 0.005)  # "a " written after ~2 ms; the stream cools down COOL_DOWN_FACTOR times as long
    await batcher.add("b ")
    await batcher.add("c ")
    assert stream.started == 1
    assert COOL_DOWN_FACTOR * write <= batcher.cool_down() <= MAX_COOL_DOWN
    await asyncio.sleep(batcher.cool_down() + 0.01)
    assert stream.started == 2  # "b c " went as one write when the cool-down ended, without a flush
    await batcher.flush()
    assert stream.entries == ["a ", "b c "]


async def test_one_stalled_write_does_not_hold_the_next_delta_back() -> None:
    """The cool-down follows the median of the recent writes: a single slow write (a scheduling hiccup)
    leaves it short, so the delta after it is written at once, as after any other."""
    stream = Stream()  # writes take one turn of the loop
    batcher = AdaptiveBatcher(stream)
    for i in range(RECENT_WRITES - 1):
        await batcher.add(f"t{i} ")
        await asyncio.sleep(0.03)
    stream.delay = 0.05  # one write stalls 50 ms
    await batcher.add("slow ")
    await asyncio.sleep(0.06)
    stream.delay = 0.0
    assert batcher.cool_down() < MAX_COOL_DOWN / 2  # not 4 x 50 ms (capped at 20 ms)
    await asyncio.sleep(0.01)
    await batcher.add("next ")
    await asyncio.sleep(0)
    assert stream.started == RECENT_WRITES + 1  # written at once


async def test_slow_writes_never_hold_a_delta_longer_than_the_old_interval() -> None:
    stream = Stream(delay=0.01)  # every write slow: 4 x 10 ms would be 40 ms
    batcher = AdaptiveBatcher(stream)
    for i in range(3):
        await batcher.add(f"t{i} ")
        await asyncio.sleep(0.015)
    assert batcher.cool_down() == MAX_COOL_DOWN == 0.02
    await batcher.flush()


async def test_deltas_coalesce_while_a_slow_write_is_in_flight() -> None:
    stream = Stream(delay=0.02)
    batcher = AdaptiveBatcher(stream)
    deltas = [f"t{i} " for i in range(40)]
    for delta in deltas:
        await batcher.add(delta)
        await asyncio.sleep(0.002)  # tokens ten times faster than writes
    await batcher.flush()
    assert "".join(stream.entries) == "".join(deltas)
    assert stream.entries[0] == "t0 "  # the first went alone and at once: nothing was in flight
    assert len(stream.entries) <= 10  # ~80 ms of tokens over 20 ms writes
    assert stream.most_in_flight == 1


@pytest.mark.parametrize("seed", range(5))
async def test_random_paces_never_reorder_or_lose_a_delta(seed: int) -> None:
    rng = random.Random(seed)
    stream = Stream(delay=rng.choice([0.0, 0.001, 0.005]))
    batcher = AdaptiveBatcher(stream)
    deltas = [f"<{i}>" for i in range(200)]
    for delta in deltas:
        await batcher.add(delta)
        if rng.random() < 0.5:
            await asyncio.sleep(rng.choice([0, 0.0005, 0.003]))
    await batcher.flush()
    assert "".join(stream.entries) == "".join(deltas)
    assert all(entry for entry in stream.entries)  # no empty entries
    assert stream.most_in_flight == 1


async def test_flush_leaves_nothing_pending_and_nothing_in_flight() -> None:
    stream = Stream(delay=0.01)
    batcher = AdaptiveBatcher(stream)
    await batcher.add("t0 ")
    await asyncio.sleep(0)  # its write starts
    for i in range(1, 10):
        await batcher.add(f"t{i} ")  # all while the first write is in flight
    await batcher.flush()
    assert not batcher.pending and stream.in_flight == 0
    assert stream.entries == ["t0 ", "".join(f"t{i} " for i in range(1, 10))]
    await batcher.flush()  # a second flush writes nothing
    assert len(stream.entries) == 2


async def test_a_failed_write_is_raised_and_its_text_retried_in_order() -> None:
    stream = Stream(delay=0.005, failures=1)
    batcher = AdaptiveBatcher(stream)
    await batcher.add("a ")
    await batcher.add("b ")
    await asyncio.sleep(0.02)  # the write of "a " failed meanwhile
    with pytest.raises(ConnectionError):
        await batcher.add("c ")
    await batcher.flush()
    assert "".join(stream.entries) == "a b "  # "c " came after the failure: the answer ended there


async def test_flush_raises_when_the_retry_fails_too() -> None:
    stream = Stream(failures=2)
    batcher = AdaptiveBatcher(stream)
    await batcher.add("a ")
    with pytest.raises(ConnectionError):
        await batcher.flush()
    assert batcher.pending == ["a "]


async def test_the_setting_chooses_the_batcher() -> None:
    stream = Stream()
    assert isinstance(text_batcher(stream, 0), AdaptiveBatcher)
    fixed = text_batcher(stream, 20)
    assert isinstance(fixed, IntervalBatcher) and fixed.interval == 0.02
    await fixed.add("a ")  # the first delta goes at once, the next waits for the interval
    await fixed.add("b ")
    assert stream.entries == ["a "]
    await fixed.flush()
    assert stream.entries == ["a ", "b "]
