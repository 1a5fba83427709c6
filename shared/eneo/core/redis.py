"""The process-wide Redis client (asyncio), created on first use."""

from redis.asyncio import Redis

from eneo.core.settings import get_settings

_client: Redis | None = None


def get_redis() -> Redis:
    global _client
    if _client is None:
        _client = Redis.from_url(get_settings().redis_url, socket_timeout=5, socket_connect_timeout=5)
    return _client


async def close_redis() -> None:
    global _client
    if _client is not None:
        await _client.aclose()
    _client = None
