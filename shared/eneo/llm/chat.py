"""stream_chat, complete_chat and test_connection: provider dispatch and our retry policy.

Only failures before the first token are retried. Once text has reached the caller, a failure is
final (`provider_stream_interrupted`, or `provider_timeout` for a stall) and the caller keeps the
partial answer: retrying would send the caller the beginning of a different answer.
"""

import importlib
import logging
from collections.abc import AsyncGenerator
from contextlib import aclosing
from functools import partial
from types import ModuleType
from typing import Any

from eneo.llm import errors
from eneo.llm.retry import wait_or_raise, with_retries
from eneo.llm.types import ChatRequest, ProviderConfig, ProviderError, RetryPolicy, TextDelta, Usage

log = logging.getLogger("eneo.llm")

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


def _retrying(config: ProviderConfig) -> dict[str, Any]:
    """How chat calls retry (eneo.llm.retry): logged as LLM calls; the deployment's own model server that refuses
    connections is not running, and its restart takes longer than our retries; the error the caller gets is
    errors.for_caller's."""
    return {"what": "LLM", "provider": config.type, "logger": log, "final": partial(errors.for_caller, config),
            "may_retry": lambda error: not errors.local_model_down(config, error)}


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
            await wait_or_raise(error, attempt, retry, **_retrying(config))


async def complete_chat(config: ProviderConfig, request: ChatRequest,
                        retry: RetryPolicy = DEFAULT_RETRY) -> tuple[str, Usage]:
    """The whole answer in one non-streaming call (retried as a whole). Raises ProviderError."""
    provider = _provider(config)
    result: tuple[str, Usage] = await with_retries(lambda: provider.complete(config, request, retry), retry,
                                                     **_retrying(config))
    return result


async def test_connection(config: ProviderConfig, model: str | None = None,
                          retry: RetryPolicy = CONNECTION_TEST) -> None:
    """Prove the config works with a cheap call (no retries by default: an admin is waiting).

    Raises ProviderError: provider_auth_failed, provider_model_not_found, provider_unreachable, ...
    """
    provider = _provider(config)
    await with_retries(lambda: provider.check(config, model, retry), retry, **_retrying(config))


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, whatever imports it
