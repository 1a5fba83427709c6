"""The process-wide Redis client (asyncio), created on first use."""

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff

from eneo.core.settings import get_settings

_client: Redis | None = None

# A few quick retries: enough to replace a connection that died with a restarted server, short enough
# (under a second) that a request answers 503 `redis_unavailable` at once while Redis is down, instead of
# redis-py's default of ten retries taking seconds.
RETRY = Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=3)


def get_redis() -> Redis:
    global _client
    if _client is None:
        _client = Redis.from_url(get_settings().redis_url, socket_timeout=5, socket_connect_timeout=5, retry=RETRY)
    return _client


async def close_redis() -> None:
    global _client
    if _client is not None:
        await _client.aclose()
    _client = None
