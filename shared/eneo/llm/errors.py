"""Provider failures → ProviderError with a stable code, and whether trying again can help.

The messages are ours: a provider's error body can echo part of the key (OpenAI's 401 does) or of
the prompt, so it never reaches a message, a log line or a chained traceback. The provider's own
error type (e.g. `overloaded_error`, `insufficient_quota`) is kept as `provider_code`.
"""

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from eneo.core.outbound import OutboundRefused, refusal_in
from eneo.llm.types import ProviderConfig, ProviderError

# Error types that arrive inside a 200 stream (Anthropic `error` events, OpenAI `{"error": …}` chunks),
# mapped to the status the same failure has when it comes as a response.
_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "api_error": 500,
    "server_error": 500,
    "overloaded_error": 529,
    "timeout_error": 504,
}


def from_status(status: int, *, provider_code: str | None = None, retry_after: float | None = None) -> ProviderError:
    """An HTTP error status (or an in-stream error mapped to one) as a ProviderError."""
    def err(code: str, message: str, retryable: bool = False) -> ProviderError:
        return ProviderError(code, f"{message} (HTTP {status})", status=status, retryable=retryable,
                             retry_after=retry_after if retryable else None, provider_code=provider_code)

    if status in (401, 403):
        return err("provider_auth_failed", "The provider refused the credentials")
    if status == 404:
        return err("provider_model_not_found", "The provider does not know this model or deployment")
    if status == 429:
        if provider_code == "insufficient_quota":
            return err("provider_rate_limited", "The provider account has no quota left")
        return err("provider_rate_limited", "The provider is limiting the rate of requests", True)
    if status in (408, 504):
        return err("provider_timeout", "The provider timed out", True)
    if status == 409 or status >= 500:
        return err("provider_unavailable", "The provider is unavailable", True)
    return err("provider_bad_request", "The provider refused the request")


def from_error_type(error_type: str | None, status: int | None = None) -> ProviderError:
    """An error reported inside a stream (its HTTP status was 200) by its type."""
    mapped = _TYPE_STATUS.get(error_type or "", 500) if status is None or status < 400 else status
    return from_status(mapped, provider_code=error_type)


def timed_out() -> ProviderError:
    return ProviderError("provider_timeout", "The provider sent nothing for longer than the timeout allows",
                         retryable=True)


def unreachable(exc: BaseException) -> ProviderError:
    return ProviderError("provider_unreachable", f"Could not connect to the provider ({type(exc).__name__})",
                         retryable=True)


def interrupted(reason: str) -> ProviderError:
    return ProviderError("provider_stream_interrupted", f"The provider's answer broke off: {reason}",
                         retryable=True)


def from_transport(exc: BaseException) -> ProviderError | None:
    """A raw httpx/httpx2 error (the SDKs let those through while a stream is read), or None."""
    for name in ("httpx2", "httpx"):
        module = sys.modules.get(name)
        if module is None:
            continue
        if isinstance(exc, module.TimeoutException):
            return timed_out()
        if isinstance(exc, module.ConnectError):
            return unreachable(exc)
        if isinstance(exc, module.HTTPError | module.StreamError):
            return interrupted(type(exc).__name__)
    return None


def after_first_token(error: ProviderError) -> ProviderError:
    """The same failure once tokens reached the caller: never retried, so the partial answer stands."""
    if error.code == "provider_timeout":
        return ProviderError("provider_timeout", "The provider stopped sending tokens for longer than the timeout "
                             "allows", status=error.status, provider_code=error.provider_code)
    if error.code == "provider_stream_interrupted":
        return ProviderError(error.code, error.message, status=error.status, provider_code=error.provider_code)
    reason = error.provider_code or (f"HTTP {error.status}" if error.status else error.code)
    return ProviderError("provider_stream_interrupted", f"The provider's answer broke off after it had started "
                         f"({reason})", status=error.status, provider_code=error.provider_code)


# What a server that is not running (or died mid-answer) looks like from here.
_DOWN = ("provider_unreachable", "provider_stream_interrupted")


def local_model_down(config: ProviderConfig, error: ProviderError) -> bool:
    """The deployment's own model server refused the connection: it is not running (crashed, restarting
    or stopped)."""
    return config.managed and error.code == "provider_unreachable"


def for_caller(config: ProviderConfig, error: ProviderError) -> ProviderError:
    """The error as the caller gets it, once no retry is left. For the deployment's own model server (a
    managed provider: the local stack's) a connection that failed or broke off means the server is down,
    which its log explains, not the network: `local_model_unavailable`, naming that log."""
    if not config.managed or error.code not in _DOWN:
        return error
    see = f"see {config.log_file}" if config.log_file else "see the local stack's log"
    if error.code == "provider_unreachable":
        message = f"The local model is not running (it crashed and is restarting, or it stopped); {see}"
    else:
        message = f"The local model stopped while it answered; {see}"
    return ProviderError("local_model_unavailable", message, status=error.status, retryable=error.retryable,
                         provider_code=error.provider_code)


def misconfigured(message: str) -> ProviderError:
    return ProviderError("provider_misconfigured", message)


def address_refused(refused: OutboundRefused) -> ProviderError:
    """The provider's host is one the outbound rule refuses (eneo.core.outbound); nothing was sent to it, so the
    answer is the same whatever its port, and trying again cannot help."""
    return ProviderError("provider_address_refused", f"This deployment does not connect to the provider's host: "
                         f"{refused}; an administrator can allow the host (see the outbound rule)")


@contextmanager
def translated(classify: Callable[[Exception], ProviderError | None]) -> Iterator[None]:
    """SDK and transport errors → ProviderError (by the provider's `classify`), without chaining the
    SDK's exception: its message may quote part of the key. Errors nobody recognises propagate."""
    try:
        yield
    except ProviderError:
        raise
    except Exception as exc:
        if (refused := refusal_in(exc)) is not None:
            raise address_refused(refused) from None
        error = classify(exc)
        if error is None:
            raise
        raise error from None
