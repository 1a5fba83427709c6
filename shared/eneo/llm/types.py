"""The provider-neutral vocabulary of eneo.llm: what callers send, what they get back, what can fail.

Kept free of SDK imports so that domains can build requests (and this module can be imported) without
paying for `openai`/`anthropic` at cold start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from eneo.core.errors import EneoError

ProviderType = Literal["openai", "azure", "anthropic", "openai_compatible"]


@dataclass(frozen=True)
class ProviderConfig:
    """Where and how to reach one provider. `api_key` is the decrypted secret: never in repr or logs."""

    type: ProviderType
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None  # openai_compatible (required); optional override for openai/anthropic
    endpoint: str | None = None  # azure: https://<resource>.openai.azure.com
    api_version: str | None = None  # azure; AZURE_DEFAULT_API_VERSION when None
    # The deployment's own model server (a managed provider: the local stack's) and its log. Failing to reach
    # it is `local_model_unavailable`, an error that names the log (errors.for_caller).
    managed: bool = False
    log_file: str | None = None


@dataclass(frozen=True)
class ChatMessage:
    role: Literal["user", "assistant"]
    content: str


@dataclass(frozen=True)
class ChatRequest:
    model: str  # model name; for azure the deployment name
    system: str
    messages: list[ChatMessage]  # oldest first, ends with the user's question
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class Usage:
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class RetryPolicy:
    """Our own retries (the SDKs' are off). Only failures before the first token are retried.

    idle_timeout bounds the silence between two chunks of a stream, and the wait for the response
    headers; for a non-streaming call it bounds the whole generation (nothing arrives before the end).
    """

    max_attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    connect_timeout: float = 10.0
    idle_timeout: float = 60.0


class ProviderError(EneoError):
    """A provider call failed, with a stable `code` a client can act on.

    Codes: provider_rate_limited, provider_unavailable, provider_auth_failed, provider_bad_request,
    provider_model_not_found, provider_timeout, provider_stream_interrupted, provider_unreachable,
    provider_misconfigured (the config lacks what its type needs), provider_address_refused (the host is or
    resolves to an address the outbound rule refuses: eneo.core.outbound); local_model_unavailable (the deployment's
    own model server, a managed provider, cannot be reached or broke off: it crashed, restarts or was stopped).
    `status` is the provider's HTTP status when there was one; `retry_after` the seconds it asked us
    to wait. The message is ours, never the provider's body (it may echo part of a key or a prompt).
    """

    def __init__(self, code: str, message: str, *, status: int | None = None, retryable: bool = False,
                 retry_after: float | None = None, provider_code: str | None = None) -> None:
        super().__init__(code, message, retryable=retryable)
        self.status = status
        self.retry_after = retry_after
        self.provider_code = provider_code  # the provider's own error type/code, e.g. "overloaded_error"

    @property
    def http_status(self) -> int:  # type: ignore[override]
        """Ours to answer with, not the provider's (`status`): 503 when a later try may work, else 502."""
        return 503 if self.retryable else 502

    def __repr__(self) -> str:
        return f"ProviderError(code={self.code!r}, status={self.status!r}, retryable={self.retryable!r})"
