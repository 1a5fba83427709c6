"""Failure counters in Redis, shared by every instance of a function, reserved before the work they guard.

An attempt first takes a slot in each of its counters (one atomic script: INCR, and the window's expiry on
the first); it goes ahead only if every count is within its limit. An attempt that fails keeps its slots;
one that succeeds, or is refused without trying, gives them back. So parallel attempts can never do more
than `limit` failing tries in a window: a check-then-count design let 40 parallel wrong passwords through
a limit of 10 (each checked before any had counted).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

_TAKE = """
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  local ttl = redis.call('TTL', key)
  if ttl < 0 then
    ttl = tonumber(ARGV[i])
    redis.call('EXPIRE', key, ttl)
  end
  out[#out + 1] = n
  out[#out + 1] = ttl
end
return out
"""

_GIVE_BACK = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 and redis.call('DECR', key) <= 0 then
    redis.call('DEL', key)
  end
end
return 0
"""


@dataclass(frozen=True)
class Counter:
    key: str
    limit: int
    window_seconds: int


@dataclass(frozen=True)
class Taken:
    """The counts after this attempt's reservation, and the seconds left in each window."""

    counters: Sequence[Counter]
    counts: Sequence[int]
    ttls: Sequence[int]

    def over(self, counter: Counter) -> int | None:
        """Seconds to wait if `counter` is past its limit with this attempt, else None."""
        i = list(self.counters).index(counter)
        return max(self.ttls[i], 1) if self.counts[i] > counter.limit else None


async def take(redis: Redis, counters: Sequence[Counter]) -> Taken:
    """Reserve one slot in each counter (atomically, all or none interleaved with other attempts)."""
    flat = await redis.eval(_TAKE, len(counters), *[c.key for c in counters],
                            *[c.window_seconds for c in counters])
    return Taken(counters, [int(n) for n in flat[::2]], [int(t) for t in flat[1::2]])


async def give_back(redis: Redis, counters: Sequence[Counter]) -> None:
    """Return the slots of an attempt that succeeded or did not try (never recreates an expired counter)."""
    if counters:
        await redis.eval(_GIVE_BACK, len(counters), *[c.key for c in counters])


async def reset(redis: Redis, key: str) -> None:
    await redis.delete(key)
