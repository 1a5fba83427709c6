"""Failure counters in Redis, shared by every instance of a function.

Only failures count: a town hall where hundreds of staff log in from one address each morning must
not be locked out, while guessing from that address still is.
"""

from redis.asyncio import Redis


async def retry_after(redis: Redis, key: str, *, limit: int) -> int | None:
    """Seconds to wait if `key` has used up `limit` failures in its window, else None."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.get(key)
        pipe.ttl(key)
        count, ttl = await pipe.execute()
    if count is not None and int(count) >= limit:
        return max(int(ttl), 1)
    return None


async def record_failure(redis: Redis, key: str, *, window_seconds: int) -> None:
    """Count one failure; the window starts at the first failure."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(key, 0, ex=window_seconds, nx=True)
        pipe.incr(key)
        await pipe.execute()


async def reset(redis: Redis, key: str) -> None:
    await redis.delete(key)
