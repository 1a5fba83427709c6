"""Fixed-window counters in Redis, shared by every instance of a function."""

from redis.asyncio import Redis


async def hit(redis: Redis, key: str, *, limit: int, window_seconds: int) -> int | None:
    """Count one attempt; return the seconds to wait if `limit` is already used up, else None."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(key, 0, ex=window_seconds, nx=True)
        pipe.incr(key)
        pipe.ttl(key)
        _, count, ttl = await pipe.execute()
    if count > limit:
        return max(int(ttl), 1)
    return None


async def reset(redis: Redis, key: str) -> None:
    await redis.delete(key)
