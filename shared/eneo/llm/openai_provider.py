"""OpenAI, Azure OpenAI and OpenAI-compatible servers (vLLM, Ollama, llama.cpp), through the openai SDK.

Imported on first use only (the SDK takes about 0.5 s to import). The SDK's retries are off: eneo.llm.chat
retries, and only before the first token.
"""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import openai

from eneo.llm import errors
from eneo.llm.clients import cached_client
from eneo.llm.retry import parse_retry_after
from eneo.llm.tokens import estimate_usage
from eneo.llm.types import ChatRequest, ProviderConfig, ProviderError, RetryPolicy, TextDelta, Usage

# Azure's current GA data-plane version (it streams usage); a config may name another.
AZURE_DEFAULT_API_VERSION = "2024-10-21"
# Self-hosted servers usually want no key, but the SDK insists on one (and would read OPENAI_API_KEY).
NO_KEY = "none"


def _http_client(config: ProviderConfig) -> openai.DefaultAsyncHttpxClient | None:
    """The SDK's own HTTP client over a transport that connects only where eneo.core.outbound permits; None (the
    SDK's default) for the deployment's own model server, which the rule does not cover."""
    if config.managed:
        return None
    from eneo.core.outbound_http import GuardedTransport

    return openai.DefaultAsyncHttpxClient(transport=GuardedTransport(openai.DEFAULT_CONNECTION_LIMITS))


def _build(config: ProviderConfig) -> openai.AsyncOpenAI:
    if config.type == "azure":
        if not config.endpoint:
            raise errors.misconfigured("An Azure provider needs its endpoint")
        if not config.api_key:
            raise errors.misconfigured("An Azure provider needs an API key")
        return openai.AsyncAzureOpenAI(azure_endpoint=config.endpoint,
                                       api_version=config.api_version or AZURE_DEFAULT_API_VERSION,
                                       api_key=config.api_key, max_retries=0, http_client=_http_client(config))
    if config.type == "openai_compatible" and not config.base_url:
        raise errors.misconfigured("An OpenAI-compatible provider needs its base URL")
    if config.type == "openai" and not config.api_key:
        raise errors.misconfigured("An OpenAI provider needs an API key")
    return openai.AsyncOpenAI(api_key=config.api_key or NO_KEY, base_url=config.base_url, max_retries=0,
                              http_client=_http_client(config))


def sdk_client(config: ProviderConfig) -> openai.AsyncOpenAI:
    return cached_client(config, lambda: _build(config))


def request_timeout(retry: RetryPolicy) -> openai.Timeout:
    return openai.Timeout(retry.idle_timeout, connect=retry.connect_timeout)


def classify(exc: Exception) -> ProviderError | None:
    if isinstance(exc, TimeoutError | openai.APITimeoutError):
        return errors.timed_out()
    if isinstance(exc, openai.APIStatusError):
        return errors.from_status(exc.status_code, provider_code=exc.code or exc.type,
                                  retry_after=parse_retry_after(exc.response.headers))
    if isinstance(exc, openai.APIConnectionError):
        return errors.unreachable(exc)
    if isinstance(exc, openai.APIError):  # an {"error": …} chunk inside a stream
        return errors.from_error_type(exc.code or exc.type)
    return errors.from_transport(exc)



def _params(config: ProviderConfig, request: ChatRequest) -> dict[str, Any]:
    messages: list[dict[str, str]] = [{"role": "system", "content": request.system}] if request.system else []
    messages += [{"role": m.role, "content": m.content} for m in request.messages]
    params: dict[str, Any] = {"model": request.model, "messages": messages}
    if request.temperature is not None:
        params["temperature"] = request.temperature
    if request.top_p is not None:
        params["top_p"] = request.top_p
    if request.max_tokens is not None:
        # OpenAI's reasoning models refuse max_tokens; Azure's older API versions and most
        # self-hosted servers know only max_tokens.
        params["max_completion_tokens" if config.type == "openai" else "max_tokens"] = request.max_tokens
    return params


async def stream(config: ProviderConfig, request: ChatRequest, retry: RetryPolicy) -> AsyncIterator[TextDelta | Usage]:
    """Text deltas as they arrive, then one Usage (estimated when the server reports none)."""
    client = sdk_client(config)
    with errors.translated(classify):
        response = await client.chat.completions.create(
            **_params(config, request), stream=True, stream_options={"include_usage": True},
            timeout=request_timeout(retry))
    usage: Usage | None = None
    finished = False
    parts: list[str] = []
    try:
        chunks = response.__aiter__()
        while True:
            try:
                with errors.translated(classify):
                    async with asyncio.timeout(retry.idle_timeout):
                        chunk = await chunks.__anext__()
            except StopAsyncIteration:
                break
            except ProviderError:
                if finished:  # the answer is whole; only the usage chunk or [DONE] went missing
                    break
                raise
            if chunk.usage is not None:
                usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
            for choice in chunk.choices:
                if choice.index != 0:
                    continue
                if choice.finish_reason:
                    finished = True
                if choice.delta is not None and choice.delta.content:
                    parts.append(choice.delta.content)
                    yield TextDelta(choice.delta.content)
    finally:
        await response.close()
    if not finished:  # the body ended cleanly, but without a finish_reason: a proxy or server cut it short
        raise errors.interrupted("the stream ended without a finish reason")
    yield usage or estimate_usage(request, "".join(parts))


async def complete(config: ProviderConfig, request: ChatRequest, retry: RetryPolicy) -> tuple[str, Usage]:
    client = sdk_client(config)
    with errors.translated(classify):
        response = await client.chat.completions.create(**_params(config, request), timeout=request_timeout(retry))
    text = (response.choices[0].message.content or "") if response.choices else ""
    if response.usage is None:
        return text, estimate_usage(request, text)
    return text, Usage(response.usage.prompt_tokens, response.usage.completion_tokens)


async def check(config: ProviderConfig, model: str | None, retry: RetryPolicy) -> None:
    """OpenAI: look the model up (no tokens spent). Azure and self-hosted servers: a 1-token chat with
    the model (a deployment or a served model is only proven by using it), else list the models."""
    client = sdk_client(config)
    with errors.translated(classify):
        if model is None:
            await client.models.list(timeout=request_timeout(retry))
        elif config.type == "openai":
            await client.models.retrieve(model, timeout=request_timeout(retry))
        else:
            ping = ChatRequest(model=model, system="", messages=[], max_tokens=1)
            params = _params(config, ping) | {"messages": [{"role": "user", "content": "ping"}]}
            await client.chat.completions.create(**params, timeout=request_timeout(retry))
