"""Retry timing and error classification for LLM provider calls."""

import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from eneo.llm import ProviderConfig, ProviderError, RetryPolicy, errors
from eneo.llm.retry import backoff_delay, next_delay, parse_retry_after, with_retries

POLICY = RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=8.0)


@pytest.mark.parametrize(("attempt", "low", "high"), [(1, 0.25, 0.5), (2, 0.5, 1.0), (3, 1.0, 2.0),
                                                       (4, 2.0, 4.0), (5, 4.0, 8.0), (9, 4.0, 8.0)])
def test_backoff_doubles_with_jitter_and_stops_at_max_delay(attempt: int, low: float, high: float) -> None:
    assert backoff_delay(attempt, POLICY, rand=lambda: 0.0) == low
    assert backoff_delay(attempt, POLICY, rand=lambda: 1.0) == high
    assert low <= (backoff_delay(attempt, POLICY) or 0) <= high


def test_retry_after_is_a_floor_with_a_little_jitter() -> None:
    assert backoff_delay(1, POLICY, retry_after=2.0, rand=lambda: 0.0) == 2.0
    assert backoff_delay(1, POLICY, retry_after=2.0, rand=lambda: 1.0) == 2.5
    assert backoff_delay(1, POLICY, retry_after=7.9, rand=lambda: 1.0) == pytest.approx(8.0)  # capped


def test_a_retry_after_beyond_max_delay_means_give_up() -> None:
    assert backoff_delay(1, POLICY, retry_after=8.5) is None


def test_only_retryable_errors_within_the_attempts_are_retried() -> None:
    busy = errors.from_status(503)
    assert next_delay(busy, 1, POLICY) is not None
    assert next_delay(busy, 3, POLICY) is not None
    assert next_delay(busy, 4, POLICY) is None  # the 4th attempt was the last
    assert next_delay(errors.from_status(401), 1, POLICY) is None
    assert next_delay(errors.from_status(400), 1, POLICY) is None


def test_parse_retry_after() -> None:
    now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "1"}) == 0.25  # the precise one wins
    assert parse_retry_after({"retry-after": format_datetime(now + timedelta(seconds=20))}, now) == 20.0
    assert parse_retry_after({"retry-after": "-5"}) == 0.0
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None and parse_retry_after(None) is None


@pytest.mark.parametrize(("status", "code", "retryable"), [
    (400, "provider_bad_request", False), (401, "provider_auth_failed", False),
    (403, "provider_auth_failed", False), (404, "provider_model_not_found", False),
    (408, "provider_timeout", True), (413, "provider_bad_request", False), (422, "provider_bad_request", False),
    (429, "provider_rate_limited", True), (500, "provider_unavailable", True), (502, "provider_unavailable", True),
    (503, "provider_unavailable", True), (504, "provider_timeout", True), (529, "provider_unavailable", True)])
def test_status_codes(status: int, code: str, retryable: bool) -> None:
    error = errors.from_status(status, retry_after=2.0)
    assert (error.code, error.retryable, error.status) == (code, retryable, status)
    assert error.retry_after == (2.0 if retryable else None)


@pytest.mark.parametrize(("error_type", "code"), [
    ("overloaded_error", "provider_unavailable"), ("rate_limit_error", "provider_rate_limited"),
    ("api_error", "provider_unavailable"), ("invalid_request_error", "provider_bad_request"),
    ("something_new", "provider_unavailable"), (None, "provider_unavailable")])
def test_errors_inside_a_stream_by_type(error_type: str | None, code: str) -> None:
    error = errors.from_error_type(error_type, status=200)
    assert error.code == code and error.provider_code == error_type


def test_after_the_first_token_nothing_is_retryable() -> None:
    stalled = errors.after_first_token(errors.timed_out())
    assert stalled.code == "provider_timeout" and not stalled.retryable
    overloaded = errors.after_first_token(errors.from_error_type("overloaded_error"))
    assert overloaded.code == "provider_stream_interrupted" and not overloaded.retryable
    assert overloaded.provider_code == "overloaded_error" and "overloaded_error" in overloaded.message
    dropped = errors.after_first_token(errors.interrupted("RemoteProtocolError"))
    assert dropped.code == "provider_stream_interrupted" and not dropped.retryable


def test_the_key_is_kept_out_of_repr() -> None:
    config = ProviderConfig("openai", api_key="sk-secret-value", base_url="http://x")
    assert "sk-secret-value" not in repr(config) and "http://x" in repr(config)
    assert "ProviderError(code='provider_timeout'" in repr(ProviderError("provider_timeout", "slow"))


class Calls:
    """A provider call that fails with `errors` in turn, then answers "ok"."""

    def __init__(self, *errors: ProviderError) -> None:
        self.errors = list(errors)
        self.count = 0

    async def __call__(self) -> str:
        self.count += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01)
LOG = logging.getLogger("tests.retry")


async def test_one_loop_retries_what_may_pass_and_logs_each_retry(caplog: pytest.LogCaptureFixture) -> None:
    call = Calls(errors.from_status(503), errors.timed_out())
    with caplog.at_level(logging.WARNING, "tests.retry"):
        assert await with_retries(call, FAST, what="Embedding", provider="openai", logger=LOG) == "ok"
    assert call.count == 3
    assert [r.getMessage() for r in caplog.records] == ["Embedding call failed, retrying"] * 2
    assert [r.code for r in caplog.records] == ["provider_unavailable", "provider_timeout"]  # type: ignore[attr-defined]


async def test_the_caller_gets_the_last_error_once_attempts_run_out() -> None:
    call = Calls(*(errors.from_status(503) for _ in range(3)))
    with pytest.raises(ProviderError) as info:
        await with_retries(call, FAST, what="LLM", provider="openai", logger=LOG)
    assert (info.value.code, call.count) == ("provider_unavailable", 3)


async def test_final_and_may_retry_shape_what_reaches_the_caller() -> None:
    """Chat's use: a managed server that is down is not retried, and the caller gets errors.for_caller's error."""
    managed = ProviderConfig(type="openai_compatible", api_key="", base_url="http://127.0.0.1:9", managed=True)
    call = Calls(errors.unreachable(ConnectionRefusedError()))
    with pytest.raises(ProviderError) as info:
        await with_retries(call, FAST, what="LLM", provider="openai_compatible", logger=LOG,
                           final=lambda e: errors.for_caller(managed, e),
                           may_retry=lambda e: not errors.local_model_down(managed, e))
    assert (info.value.code, call.count) == ("local_model_unavailable", 1)


async def test_an_error_that_cannot_pass_is_not_retried() -> None:
    call = Calls(errors.from_status(401))
    with pytest.raises(ProviderError) as info:
        await with_retries(call, FAST, what="LLM", provider="openai", logger=LOG)
    assert (info.value.code, call.count) == ("provider_auth_failed", 1)
