"""When to try a provider call again, and how long to wait first.

Waits grow exponentially with "equal jitter" (at least half the backoff, the rest random), so a
burst of callers that failed together do not come back together, yet none retries at once into an
overloaded provider. A provider's Retry-After is honoured as a floor; when it asks for longer than
`max_delay` we give up at once and pass `retry_after` on, rather than retry early into a certain 429
or hold a function instance idle.
"""

import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from eneo.llm.types import ProviderError, RetryPolicy


def backoff_delay(attempt: int, policy: RetryPolicy, retry_after: float | None = None,
                  rand: Callable[[], float] = random.random) -> float | None:
    """Seconds to wait after failed attempt number `attempt` (1-based); None: don't wait that long."""
    if retry_after is not None:
        if retry_after > policy.max_delay:
            return None
        spread = max(0.0, min(policy.base_delay, policy.max_delay - retry_after))
        return retry_after + rand() * spread
    backoff = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
    return backoff / 2 + rand() * backoff / 2


def next_delay(error: ProviderError, attempt: int, policy: RetryPolicy,
               rand: Callable[[], float] = random.random) -> float | None:
    """The wait before another attempt after `error`, or None when the error must reach the caller."""
    if not error.retryable or attempt >= policy.max_attempts:
        return None
    return backoff_delay(attempt, policy, error.retry_after, rand)


def _number(text: str | None) -> float | None:
    try:
        return max(0.0, float(text)) if text is not None else None
    except ValueError:
        return None


def parse_retry_after(headers: Mapping[str, str] | None, now: datetime | None = None) -> float | None:
    """Seconds from `retry-after-ms` (OpenAI, Azure) or `retry-after` (seconds or an HTTP date)."""
    if not headers:
        return None
    if (millis := _number(headers.get("retry-after-ms"))) is not None:
        return millis / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    if (seconds := _number(value)) is not None:
        return seconds
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
