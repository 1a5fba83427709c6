"""eneo.llm through the real openai and anthropic SDKs against fake providers on a real socket.

No database: what a caller of stream_chat notices — every token once and in order, usage, which
failures are retried (and after how long), that nothing is retried once text went out, and codes.
"""

import asyncio
import dataclasses
import logging
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from eneo.llm import (
    ChatMessage,
    ChatRequest,
    ProviderConfig,
    ProviderError,
    ProviderType,
    RetryPolicy,
    TextDelta,
    Usage,
    complete_chat,
    stream_chat,
    test_connection,
)
from eneo.llm.clients import cached_client, close_clients
from tests.fakes.llm_server import FakeLLMServer

TYPES: list[ProviderType] = ["openai", "azure", "anthropic", "openai_compatible"]
# Quick retries. The idle timeout is generous: a test that is not about a stall must not read a pause of its own
# process (a collection of its garbage late in the suite) as the provider's silence; CI once did, at 0.5 s.
FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=3.0, connect_timeout=1.0, idle_timeout=5.0)
STALL = dataclasses.replace(FAST, idle_timeout=1.5)  # the tests whose subject is a provider going silent:
# 1.5 s, as a test process paused longer than a short timeout (CI measured 0.65 s) would read as one
KEY = "sk-test-0123456789abcdef"
REQUEST = ChatRequest(
    model="fake-model", system="You answer briefly.",
    messages=[ChatMessage("user", "What is a municipality?"), ChatMessage("assistant", "A local authority."),
              ChatMessage("user", "And a region?")],
    temperature=0.2, max_tokens=50)
PROMPT_WORDS = 3 + 4 + 3 + 3  # the fake's input "tokens": words of the system prompt and all messages


@pytest.fixture(scope="module")
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(api_key=KEY, token_count=6, delay=0.002) as fake:
        yield fake


@pytest.fixture
async def fake(server: FakeLLMServer) -> AsyncIterator[FakeLLMServer]:
    server.reset()
    server.token_count, server.delay, server.models, server.stream_usage = 6, 0.002, None, True
    yield server
    assert server.pending_plans == 0, "a scripted failure was never requested"
    await close_clients()


async def collect(config: ProviderConfig, request: ChatRequest = REQUEST,
                  retry: RetryPolicy = FAST) -> tuple[list[str], list[Usage], ProviderError | None]:
    """Everything stream_chat yielded, and the error it ended with (if any)."""
    texts: list[str] = []
    usages: list[Usage] = []
    try:
        async for item in stream_chat(config, request, retry):
            if isinstance(item, TextDelta):
                assert not usages, "text after the usage"
                texts.append(item.text)
            else:
                usages.append(item)
    except ProviderError as error:
        return texts, usages, error
    return texts, usages, None


def chats(fake: FakeLLMServer) -> list[Any]:
    return [r for r in fake.requests if r.method == "POST"]


@pytest.mark.parametrize("kind", TYPES)
async def test_every_token_arrives_once_in_order_then_usage(fake: FakeLLMServer, kind: ProviderType) -> None:
    texts, usages, error = await collect(fake.provider_config(kind))

    assert error is None
    assert texts == fake.expected_tokens()
    assert usages == [Usage(input_tokens=PROMPT_WORDS, output_tokens=6)]
    assert len(chats(fake)) == 1


@pytest.mark.parametrize("kind", TYPES)
async def test_the_sdk_sends_system_prompt_history_and_limits(fake: FakeLLMServer, kind: ProviderType) -> None:
    await collect(fake.provider_config(kind))
    sent = chats(fake)[0]
    body = sent.body

    turns = [(m.role, m.content) for m in REQUEST.messages]
    if kind == "anthropic":
        assert sent.path == "/v1/messages"
        assert body["system"] == REQUEST.system
        assert [(m["role"], m["content"]) for m in body["messages"]] == turns
        assert body["max_tokens"] == 50
    else:
        assert [(m["role"], m["content"]) for m in body["messages"]] == [("system", REQUEST.system), *turns]
        assert body["stream_options"] == {"include_usage": True}
        # OpenAI's reasoning models accept only max_completion_tokens; others know max_tokens.
        assert body["max_completion_tokens" if kind == "openai" else "max_tokens"] == 50
    if kind == "azure":
        assert sent.path == "/openai/deployments/fake-model/chat/completions"
        assert sent.query["api-version"] == "2024-10-21"
    assert body["stream"] is True and "top_p" not in body
    # Anthropic's current API version refuses every sampling parameter.
    assert body.get("temperature") == (None if kind == "anthropic" else 0.2)
    assert KEY not in str(sent.headers)  # the fake redacts; the SDK did send it (key_ok)
    assert sent.key_ok


async def test_anthropic_gets_a_history_it_accepts(fake: FakeLLMServer) -> None:
    """Starts with the user and alternates, even when trimming left an answer first or two questions in a row."""
    request = ChatRequest(model="fake-model", system="", messages=[
        ChatMessage("assistant", "Earlier answer"), ChatMessage("user", "First question"),
        ChatMessage("user", "Second question")])
    _, _, error = await collect(fake.provider_config("anthropic"), request)

    assert error is None
    body = chats(fake)[0].body
    assert body["messages"] == [{"role": "user", "content": "First question\n\nSecond question"}]
    assert "system" not in body and body["max_tokens"] == 4096


@pytest.mark.parametrize("kind", TYPES)
async def test_complete_chat_returns_the_whole_answer(fake: FakeLLMServer, kind: ProviderType) -> None:
    text, usage = await complete_chat(fake.provider_config(kind), REQUEST, FAST)

    assert text == "".join(fake.expected_tokens())
    assert usage == Usage(PROMPT_WORDS, 6)
    assert "stream" not in chats(fake)[0].body or chats(fake)[0].body["stream"] is False


async def test_max_tokens_cuts_the_answer_and_still_finishes(fake: FakeLLMServer) -> None:
    request = ChatRequest(model="fake-model", system="s", messages=[ChatMessage("user", "q")], max_tokens=2)
    for kind in ("openai", "anthropic"):
        texts, usages, error = await collect(fake.provider_config(kind), request)  # type: ignore[arg-type]
        assert error is None and texts == fake.expected_tokens(2) and usages[0].output_tokens == 2


async def test_a_server_without_stream_usage_gets_an_estimate(fake: FakeLLMServer) -> None:
    fake.stream_usage = False  # llama.cpp and Ollama versions that ignore stream_options
    texts, usages, error = await collect(fake.provider_config("openai_compatible"))

    assert error is None and len(texts) == 6
    assert len(usages) == 1 and usages[0].input_tokens >= PROMPT_WORDS and usages[0].output_tokens >= 6


@pytest.mark.parametrize(("kind", "retry_after"), [("anthropic", 1), ("openai", 0.4)])
async def test_429_waits_at_least_retry_after_then_succeeds(fake: FakeLLMServer, kind: ProviderType,
                                                            retry_after: float,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """Anthropic sends Retry-After in whole seconds; OpenAI also retry-after-ms, which wins (0.4 s, not the
    header's 1 s). The planned wait is read from the retry log, so a paused test process cannot fail it;
    the clock only shows the wait happened, with room for such a pause."""
    fake.fail(status=429, retry_after=retry_after)
    with caplog.at_level(logging.WARNING, logger="eneo.llm"):
        texts, _, error = await collect(fake.provider_config(kind))

    assert error is None and texts == fake.expected_tokens()
    [retry] = [r for r in caplog.records if r.name == "eneo.llm"]
    assert retry_after <= retry.delay_s <= retry_after + FAST.base_delay  # type: ignore[attr-defined]
    first, second = chats(fake)
    assert retry_after <= second.at - first.at < retry_after + 3


@pytest.mark.parametrize("kind", TYPES)
async def test_500_is_retried(fake: FakeLLMServer, kind: ProviderType) -> None:
    fake.fail(status=500)
    fake.fail(status=503)
    texts, _, error = await collect(fake.provider_config(kind))

    assert error is None and texts == fake.expected_tokens()
    assert len(chats(fake)) == 3


@pytest.mark.parametrize(("status", "code"), [(429, "provider_rate_limited"), (500, "provider_unavailable"),
                                              (529, "provider_unavailable")])
async def test_exhausted_attempts_report_the_last_failure(fake: FakeLLMServer, status: int, code: str) -> None:
    fake.fail(status=status, times=3)
    texts, usages, error = await collect(fake.provider_config("anthropic"))

    assert texts == [] and usages == []
    assert error is not None and error.code == code and error.status == status
    assert len(chats(fake)) == 3


async def test_a_retry_after_beyond_max_delay_is_not_waited_for(fake: FakeLLMServer) -> None:
    fake.fail(status=429, retry_after=30)
    start = time.monotonic()
    _, _, error = await collect(fake.provider_config("openai"))

    assert error is not None and error.code == "provider_rate_limited" and error.retry_after == 30
    assert time.monotonic() - start < 10 and len(chats(fake)) == 1  # waiting would take 30 s


async def test_exhausted_quota_is_not_retried(fake: FakeLLMServer) -> None:
    fake.fail(status=429, error_type="insufficient_quota")
    _, _, error = await collect(fake.provider_config("openai"))

    assert error is not None and error.code == "provider_rate_limited" and not error.retryable
    assert error.provider_code == "insufficient_quota" and len(chats(fake)) == 1


@pytest.mark.parametrize("kind", TYPES)
@pytest.mark.parametrize("graceful", [False, True], ids=["connection-closed", "body-ended"])
async def test_a_drop_mid_stream_keeps_the_partial_text_and_is_not_retried(
        fake: FakeLLMServer, kind: ProviderType, graceful: bool) -> None:
    fake.drop_after(3, graceful=graceful)
    texts, usages, error = await collect(fake.provider_config(kind))

    assert texts == fake.expected_tokens()[:3] and usages == []
    assert error is not None and error.code == "provider_stream_interrupted" and not error.retryable
    assert len(chats(fake)) == 1


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_a_drop_after_the_answer_was_complete_is_no_failure(fake: FakeLLMServer, kind: ProviderType) -> None:
    """The finish reason and usage arrived; only [DONE] / message_stop was lost with the connection."""
    fake.drop_before_end()
    texts, usages, error = await collect(fake.provider_config(kind))

    assert error is None and texts == fake.expected_tokens()
    assert usages == [Usage(PROMPT_WORDS, 6)] and len(chats(fake)) == 1


async def test_a_drop_before_the_first_token_is_retried(fake: FakeLLMServer) -> None:
    fake.drop_after(0)
    texts, _, error = await collect(fake.provider_config("openai"))

    assert error is None and texts == fake.expected_tokens() and len(chats(fake)) == 2


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_a_stall_mid_stream_times_out_after_the_idle_timeout(fake: FakeLLMServer, kind: ProviderType) -> None:
    fake.stall_after(2, seconds=5)
    texts: list[str] = []
    last_token = time.monotonic()
    with pytest.raises(ProviderError) as caught:
        async for item in stream_chat(fake.provider_config(kind), REQUEST, STALL):
            if isinstance(item, TextDelta):
                texts.append(item.text)
                last_token = time.monotonic()
    waited = time.monotonic() - last_token

    assert caught.value.code == "provider_timeout" and not caught.value.retryable
    assert texts == fake.expected_tokens()[:2]
    assert STALL.idle_timeout * 0.9 <= waited < STALL.idle_timeout + 1.0
    assert len(chats(fake)) == 1


async def test_a_stall_before_the_first_token_is_retried(fake: FakeLLMServer) -> None:
    fake.stall_after(0, seconds=5)
    start = time.monotonic()
    texts, _, error = await collect(fake.provider_config("azure"), retry=STALL)

    assert error is None and texts == fake.expected_tokens() and len(chats(fake)) == 2
    assert time.monotonic() - start >= STALL.idle_timeout


async def test_a_non_streaming_call_that_takes_too_long_times_out(fake: FakeLLMServer) -> None:
    fake.stall_after(0, seconds=5)
    fake.stall_after(0, seconds=5)
    with pytest.raises(ProviderError) as caught:
        await complete_chat(fake.provider_config("openai"), REQUEST, RetryPolicy(
            max_attempts=2, base_delay=0.01, idle_timeout=0.3, connect_timeout=1))
    assert caught.value.code == "provider_timeout" and len(chats(fake)) == 2


@pytest.mark.parametrize(("after", "retried"), [(0, True), (2, False)])
async def test_an_anthropic_error_event(fake: FakeLLMServer, after: int, retried: bool) -> None:
    """Overloaded before any text: retried. After text: the partial answer stands."""
    fake.error_event_after(after, "overloaded_error")
    texts, _, error = await collect(fake.provider_config("anthropic"))

    if retried:
        assert error is None and texts == fake.expected_tokens() and len(chats(fake)) == 2
    else:
        assert error is not None and error.code == "provider_stream_interrupted"
        assert error.provider_code == "overloaded_error" and texts == fake.expected_tokens()[:2]
        assert len(chats(fake)) == 1


async def test_an_openai_error_chunk_mid_stream(fake: FakeLLMServer) -> None:
    fake.error_event_after(4, "server_error")
    texts, _, error = await collect(fake.provider_config("openai_compatible"))

    assert texts == fake.expected_tokens()[:4]
    assert error is not None and error.code == "provider_stream_interrupted" and len(chats(fake)) == 1


@pytest.mark.parametrize("kind", TYPES)
async def test_a_wrong_key_fails_at_once_without_leaking_it(fake: FakeLLMServer, kind: ProviderType,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    wrong = "sk-wrong-9876543210fedcba"
    texts, _, error = await collect(fake.provider_config(kind, api_key=wrong))

    assert texts == [] and error is not None
    assert error.code == "provider_auth_failed" and error.status == 401 and not error.retryable
    assert len(chats(fake)) == 1
    for text in (str(error), repr(error), caplog.text, repr(fake.provider_config(kind, api_key=wrong))):
        assert wrong not in text and KEY not in text


async def test_an_unknown_model_or_deployment_is_not_retried(fake: FakeLLMServer) -> None:
    fake.models = {"known-model"}
    for kind in ("azure", "anthropic", "openai"):
        _, _, error = await collect(fake.provider_config(kind))  # type: ignore[arg-type]
        assert error is not None and error.code == "provider_model_not_found", kind
    assert len(chats(fake)) == 3


async def test_retries_are_logged_with_codes_only(fake: FakeLLMServer, caplog: pytest.LogCaptureFixture) -> None:
    fake.fail(status=503)
    with caplog.at_level(logging.WARNING, logger="eneo.llm"):
        texts, _, error = await collect(fake.provider_config("openai"))

    assert error is None
    [record] = [r for r in caplog.records if r.name == "eneo.llm"]
    assert record.__dict__["code"] == "provider_unavailable" and record.__dict__["attempt"] == 1
    assert KEY not in caplog.text and "municipality" not in caplog.text and texts[0] not in caplog.text


@pytest.mark.parametrize("kind", TYPES)
async def test_test_connection(fake: FakeLLMServer, kind: ProviderType) -> None:
    await test_connection(fake.provider_config(kind))
    await test_connection(fake.provider_config(kind), "fake-model")

    with pytest.raises(ProviderError) as wrong_key:
        await test_connection(fake.provider_config(kind, api_key="sk-wrong"), "fake-model")
    assert wrong_key.value.code == "provider_auth_failed"

    fake.models = {"other-model"}
    with pytest.raises(ProviderError) as unknown:
        await test_connection(fake.provider_config(kind), "fake-model")
    assert unknown.value.code == "provider_model_not_found"
    assert len(fake.requests) == 4  # one call each, no retries


async def test_test_connection_reports_an_unreachable_server() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = ProviderConfig("openai_compatible", base_url=f"http://127.0.0.1:{port}/v1")
    with pytest.raises(ProviderError) as caught:
        await test_connection(config)
    assert caught.value.code == "provider_unreachable"
    await close_clients()


@pytest.mark.parametrize(("config", "missing"), [
    (ProviderConfig("openai_compatible"), "base URL"), (ProviderConfig("azure", api_key="k"), "endpoint"),
    (ProviderConfig("anthropic"), "API key"), (ProviderConfig("openai"), "API key")])
async def test_an_incomplete_config_is_refused_before_any_call(config: ProviderConfig, missing: str) -> None:
    _, _, error = await collect(config)
    assert error is not None and error.code == "provider_misconfigured" and missing in error.message


async def test_one_client_per_account_is_reused(fake: FakeLLMServer) -> None:
    config = fake.provider_config("openai")

    class Dummy:
        async def close(self) -> None:
            pass

    built: list[Dummy] = []

    def build() -> Dummy:
        built.append(Dummy())
        return built[-1]

    first = cached_client(config, build)
    assert cached_client(fake.provider_config("openai"), build) is first
    assert cached_client(fake.provider_config("openai", api_key="sk-rotated"), build) is not first
    assert len(built) == 2


async def test_clients_are_not_shared_across_event_loops(fake: FakeLLMServer) -> None:
    """A handler that runs each event in a fresh loop must not reuse a pool bound to a closed one."""
    config = fake.provider_config("openai")

    class Dummy:
        async def close(self) -> None:
            pass

    async def build() -> Dummy:
        return cached_client(config, Dummy)

    here = await build()
    elsewhere = await asyncio.to_thread(asyncio.run, build())
    assert here is await build() and elsewhere is not here
    await close_clients()
    # and the SDK path works from another loop too
    texts, _, error = await asyncio.to_thread(asyncio.run, collect(config))
    assert error is None and texts == fake.expected_tokens()
    await close_clients()


async def test_a_consumer_that_stops_early_leaves_the_next_call_working(fake: FakeLLMServer) -> None:
    fake.delay = 0.05
    async with asyncio.timeout(5):
        stream = stream_chat(fake.provider_config("anthropic"), REQUEST, FAST)
        async for _ in stream:
            break
        await stream.aclose()  # type: ignore[attr-defined]
    fake.delay = 0.0
    texts, _, error = await collect(fake.provider_config("anthropic"))
    assert error is None and texts == fake.expected_tokens()
