"""Anthropic's Messages API through the anthropic SDK.

Imported on first use only (the SDK takes over a second to import). The SDK's retries are off:
eneo.llm.chat retries, and only before the first token.
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import anthropic

from eneo.llm import errors
from eneo.llm.clients import cached_client
from eneo.llm.retry import parse_retry_after
from eneo.llm.tokens import estimate_usage
from eneo.llm.types import ChatRequest, ProviderConfig, ProviderError, RetryPolicy, TextDelta, Usage

# The Messages API requires max_tokens; this is what a request without one gets.
DEFAULT_MAX_TOKENS = 4096


def _build(config: ProviderConfig) -> anthropic.AsyncAnthropic:
    if not config.api_key:  # without one the SDK would read ANTHROPIC_API_KEY from the environment
        raise errors.misconfigured("An Anthropic provider needs an API key")
    http_client = None
    if not config.managed:  # connect only where eneo.core.outbound permits (see openai_provider._http_client)
        from eneo.core.outbound_http import GuardedTransport

        http_client = anthropic.DefaultAsyncHttpxClient(transport=GuardedTransport(anthropic.DEFAULT_CONNECTION_LIMITS))
    return anthropic.AsyncAnthropic(api_key=config.api_key, base_url=config.base_url, max_retries=0,
                                    http_client=http_client)


def _client(config: ProviderConfig) -> anthropic.AsyncAnthropic:
    return cached_client(config, lambda: _build(config))


def _timeout(retry: RetryPolicy) -> anthropic.Timeout:
    return anthropic.Timeout(retry.idle_timeout, connect=retry.connect_timeout)


def _classify(exc: Exception) -> ProviderError | None:
    if isinstance(exc, TimeoutError | anthropic.APITimeoutError):
        return errors.timed_out()
    if isinstance(exc, anthropic.APIStatusError):  # also an `error` event inside a 200 stream
        error_type = exc.type if isinstance(exc.type, str) else None
        if exc.status_code < 400:
            return errors.from_error_type(error_type)
        return errors.from_status(exc.status_code, provider_code=error_type,
                                  retry_after=parse_retry_after(exc.response.headers))
    if isinstance(exc, anthropic.APIConnectionError):
        return errors.unreachable(exc)
    if isinstance(exc, anthropic.APIError):
        return errors.from_error_type(None)
    return errors.from_transport(exc)



def _messages(request: ChatRequest) -> list[dict[str, str]]:
    """The history as Anthropic accepts it: starting with the user, roles alternating.

    A trimmed history can start with an answer, and a failed answer can leave two questions in a row;
    the first is dropped, the second merged, rather than the whole request refused.
    """
    out: list[dict[str, str]] = []
    for message in request.messages:
        if not out and message.role == "assistant":
            continue
        if out and out[-1]["role"] == message.role:
            out[-1]["content"] += "\n\n" + message.content
        else:
            out.append({"role": message.role, "content": message.content})
    return out


def _params(request: ChatRequest) -> dict[str, Any]:
    """No temperature or top_p: from API version 2026-10-21 (the one current SDKs send) Anthropic refuses
    every sampling parameter with a 400, so an assistant that sets them would never answer."""
    params: dict[str, Any] = {"model": request.model, "messages": _messages(request),
                              "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS}
    if request.system:
        params["system"] = request.system
    return params


def _input_tokens(usage: Any) -> int:
    """Input tokens including those written to or read from the prompt cache (all are billed)."""
    return int(usage.input_tokens or 0) + int(getattr(usage, "cache_creation_input_tokens", 0) or 0) + int(
        getattr(usage, "cache_read_input_tokens", 0) or 0)


async def stream(config: ProviderConfig, request: ChatRequest, retry: RetryPolicy) -> AsyncIterator[TextDelta | Usage]:
    """Text deltas as they arrive, then one Usage (from message_start and the last message_delta)."""
    client = _client(config)
    with errors.translated(_classify):
        response = await client.messages.create(**_params(request), stream=True, timeout=_timeout(retry))
    input_tokens: int | None = None
    output_tokens: int | None = None
    finished = False
    parts: list[str] = []
    try:
        events = response.__aiter__()
        while True:
            try:
                with errors.translated(_classify):
                    async with asyncio.timeout(retry.idle_timeout):
                        event = await events.__anext__()
            except StopAsyncIteration:
                break
            except ProviderError:
                if finished:  # message_delta said why it stopped: the answer is whole, message_stop went missing
                    break
                raise
            if event.type == "message_start":
                input_tokens = _input_tokens(event.message.usage)
                output_tokens = event.message.usage.output_tokens
            elif event.type == "content_block_delta":
                if event.delta.type == "text_delta" and event.delta.text:
                    parts.append(event.delta.text)
                    yield TextDelta(event.delta.text)
            elif event.type == "message_delta":
                output_tokens = event.usage.output_tokens
                finished = finished or event.delta.stop_reason is not None
                if getattr(event.usage, "input_tokens", None) is not None:
                    input_tokens = _input_tokens(event.usage)
            elif event.type == "message_stop":
                finished = True
    finally:
        await response.close()
    if not finished:
        raise errors.interrupted("the stream ended before the message did")
    if input_tokens is None or output_tokens is None:
        yield estimate_usage(request, "".join(parts))
    else:
        yield Usage(input_tokens, output_tokens)


async def complete(config: ProviderConfig, request: ChatRequest, retry: RetryPolicy) -> tuple[str, Usage]:
    client = _client(config)
    with errors.translated(_classify):
        message = await client.messages.create(**_params(request), timeout=_timeout(retry))
    text = "".join(block.text for block in message.content if block.type == "text")
    return text, Usage(_input_tokens(message.usage), message.usage.output_tokens)


async def check(config: ProviderConfig, model: str | None, retry: RetryPolicy) -> None:
    """With a model, a 1-token message (proves key and model); without, list one model (proves the key)."""
    client = _client(config)
    with errors.translated(_classify):
        if model is None:
            await client.models.list(limit=1, timeout=_timeout(retry))
        else:
            await client.messages.create(model=model, max_tokens=1, messages=[{"role": "user", "content": "ping"}],
                                         timeout=_timeout(retry))
