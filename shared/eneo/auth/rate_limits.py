"""Requests per minute, per user and per API key (429 with Retry-After beyond them).

A fixed one-minute window per counter in Redis (eneo.core.ratelimit: one script, atomic), taken on every
authenticated request before the route runs: a user's requests count against the user's limit whatever
credential they come with, and a key's also against the key's, so one runaway script does not lock its
owner out of the web client before the key's own (lower) limit stops it. 0 turns a limit off. While Redis
cannot be reached, requests are let through (logged): a limiter must not take down routes that do not
need Redis. A refused request gives its slots back, so a script hammering past its key's limit does not use
up its owner's.
"""

import logging

from redis.exceptions import RedisError

from eneo.auth.principal import Principal
from eneo.core.errors import TooManyRequests
from eneo.core.ratelimit import Counter, give_back, take
from eneo.core.redis import get_redis
from eneo.core.settings import Settings

log = logging.getLogger("eneo.auth")
WINDOW_SECONDS = 60


def user_counter_key(user_id: object) -> str:
    """The Redis key of a user's counter (an erasure removes it with the user's other keys)."""
    return f"rate:user:{user_id}"


async def within_rate_limits(settings: Settings, principal: Principal) -> None:
    counters = []
    if settings.rate_limit_user_per_minute:
        counters.append(Counter(user_counter_key(principal.user_id), settings.rate_limit_user_per_minute,
                                WINDOW_SECONDS))
    if principal.key_id is not None and settings.rate_limit_api_key_per_minute:
        counters.append(Counter(f"rate:key:{principal.key_id}", settings.rate_limit_api_key_per_minute,
                                WINDOW_SECONDS))
    if not counters:
        return
    try:
        taken = await take(get_redis(), counters)
    except (RedisError, OSError) as exc:
        log.warning("rate limit not checked: redis unavailable", extra={"error": type(exc).__name__})
        return
    for counter, what in zip(counters, ("user", "API key"), strict=False):
        if (wait := taken.over(counter)) is not None:
            await give_back(get_redis(), counters)  # refused: not counted (see above)
            raise TooManyRequests(f"Too many requests for this {what}: at most {counter.limit} a minute; "
                                  f"try again in {wait} seconds", retry_after=wait)
