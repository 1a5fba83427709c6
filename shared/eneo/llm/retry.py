"""When to try a provider call again, and how long to wait first.

Waits grow exponentially with "equal jitter" (at least half the backoff, the rest random), so a
burst of callers that failed together do not come back together, yet none retries at once into an
overloaded provider. A provider's Retry-After is honoured as a floor; when it asks for longer than
`max_delay` we give up at once and pass `retry_after` on, rather than retry early into a certain 429
or hold a function instance idle.

`with_retries` is the one loop for a provider call that returns once (a completion, a connection test,
embeddings, a transcription); a streamed answer (eneo.llm.chat.stream_chat) runs its own loop around
`wait_or_raise`, because only it knows whether a token has reached the caller, after which nothing is
retried.
"""

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from eneo.llm.types import ProviderError, RetryPolicy

T = TypeVar("T")


def _as_is(error: ProviderError) -> ProviderError:
    return error


def _always(error: ProviderError) -> bool:
    return True


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


async def wait_or_raise(error: ProviderError, attempt: int, policy: RetryPolicy, *, what: str, provider: str,
                        logger: logging.Logger, final: Callable[[ProviderError], ProviderError] = _as_is,
                        may_retry: Callable[[ProviderError], bool] = _always) -> None:
    """Wait before the attempt after `attempt` (1-based) failed with `error`, or raise `final(error)` when it
    must reach the caller: not retryable, out of attempts, a Retry-After beyond the policy, or `may_retry`
    says no. Each retry is logged as "<what> call failed, retrying" with the code, never the message."""
    delay = next_delay(error, attempt, policy) if may_retry(error) else None
    if delay is None:
        raise final(error) from None
    logger.warning("%s call failed, retrying", what, extra={
        "provider": provider, "code": error.code, "status": error.status, "attempt": attempt,
        "delay_s": round(delay, 3)})
    await asyncio.sleep(delay)


async def with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy, *, what: str, provider: str,
                       logger: logging.Logger, final: Callable[[ProviderError], ProviderError] = _as_is,
                       may_retry: Callable[[ProviderError], bool] = _always) -> T:
    """`await call()`, tried again after each ProviderError `wait_or_raise` lets through."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except ProviderError as error:
            await wait_or_raise(error, attempt, policy, what=what, provider=provider, logger=logger, final=final,
                                may_retry=may_retry)


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
