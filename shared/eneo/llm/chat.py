"""stream_chat, complete_chat and test_connection: provider dispatch and our retry policy.

Only failures before the first token are retried. Once text has reached the caller, a failure is
final (`provider_stream_interrupted`, or `provider_timeout` for a stall) and the caller keeps the
partial answer: retrying would send the caller the beginning of a different answer.
"""

import asyncio
import importlib
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from types import ModuleType
from typing import TypeVar

from eneo.llm import errors
from eneo.llm.retry import next_delay
from eneo.llm.types import ChatRequest, ProviderConfig, ProviderError, RetryPolicy, TextDelta, Usage

log = logging.getLogger("eneo.llm")
T = TypeVar("T")

DEFAULT_RETRY = RetryPolicy()
CONNECTION_TEST = RetryPolicy(max_attempts=1, connect_timeout=5.0, idle_timeout=30.0)

# Provider modules import their SDK, so they are imported on first use, not with eneo.llm.
_MODULES = {"openai": "eneo.llm.openai_provider", "azure": "eneo.llm.openai_provider",
            "openai_compatible": "eneo.llm.openai_provider", "anthropic": "eneo.llm.anthropic_provider"}


def _provider(config: ProviderConfig) -> ModuleType:
    name = _MODULES.get(config.type)
    if name is None:
        raise errors.misconfigured(f"Unknown provider type {config.type!r}")
    return importlib.import_module(name)


async def _pause(config: ProviderConfig, error: ProviderError, attempt: int, retry: RetryPolicy) -> None:
    """Wait before the next attempt, or re-raise `error` when it must reach the caller. The deployment's own
    model server that refuses connections is not running: its restart takes longer than our retries."""
    delay = None if errors.local_model_down(config, error) else next_delay(error, attempt, retry)
    if delay is None:
        raise errors.for_caller(config, error) from None
    log.warning("LLM call failed, retrying", extra={
        "provider": config.type, "code": error.code, "status": error.status, "attempt": attempt,
        "delay_s": round(delay, 3)})
    await asyncio.sleep(delay)


async def stream_chat(config: ProviderConfig, request: ChatRequest,
                      retry: RetryPolicy = DEFAULT_RETRY) -> AsyncGenerator[TextDelta | Usage, None]:
    """The answer as TextDelta items, then exactly one Usage. Raises ProviderError."""
    provider = _provider(config)
    attempt = 0
    while True:
        attempt += 1
        started = False
        try:
            async with aclosing(provider.stream(config, request, retry)) as items:
                async for item in items:
                    started = started or isinstance(item, TextDelta)
                    yield item
            return
        except ProviderError as error:
            if started:
                raise errors.for_caller(config, errors.after_first_token(error)) from None
            await _pause(config, error, attempt, retry)


async def _with_retries(config: ProviderConfig, retry: RetryPolicy, call: Callable[[], Awaitable[T]]) -> T:
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except ProviderError as error:
            await _pause(config, error, attempt, retry)


async def complete_chat(config: ProviderConfig, request: ChatRequest,
                        retry: RetryPolicy = DEFAULT_RETRY) -> tuple[str, Usage]:
    """The whole answer in one non-streaming call (retried as a whole). Raises ProviderError."""
    provider = _provider(config)
    result: tuple[str, Usage] = await _with_retries(config, retry, lambda: provider.complete(config, request, retry))
    return result


async def test_connection(config: ProviderConfig, model: str | None = None,
                          retry: RetryPolicy = CONNECTION_TEST) -> None:
    """Prove the config works with a cheap call (no retries by default: an admin is waiting).

    Raises ProviderError: provider_auth_failed, provider_model_not_found, provider_unreachable, ...
    """
    provider = _provider(config)
    await _with_retries(config, retry, lambda: provider.check(config, model, retry))


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, whatever imports it
