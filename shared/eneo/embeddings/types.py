"""What every embedder offers and how it fails. No SDK or numpy imports: cheap to import anywhere."""

from __future__ import annotations

import uuid
from typing import Literal, Protocol, runtime_checkable

from eneo.core.errors import EneoError

# What a text is embedded as: a chunk to be searched, or a question that searches. Models trained with
# two forms (multilingual-e5-small: "passage: " and "query: ") embed them differently; others ignore it.
Purpose = Literal["document", "query"]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit vectors of one model. The same embedder embeds chunks (`purpose="document"`)
    and questions (`"query"`, the default: what a caller without a document in hand has)."""

    @property
    def name(self) -> str: ...

    @property
    def dimensions(self) -> int: ...

    @property
    def max_batch(self) -> int:
        """Texts per call that the caller should not exceed (embed() splits larger lists anyway)."""
        ...

    async def embed(self, texts: list[str], *, purpose: Purpose = "query") -> list[list[float]]:
        """One L2-normalised vector per text, in input order. Raises EmbeddingError."""
        ...


class EmbeddingModelLike(Protocol):
    """The fields of an `embedding_models` row an embedder needs (eneo.model_providers.models.EmbeddingModel)."""

    @property
    def name(self) -> str: ...

    @property
    def dimensions(self) -> int: ...

    @property
    def provider_id(self) -> uuid.UUID | None: ...


class EmbeddingError(EneoError):
    """An embedding (or transcription) call failed, with a stable `code` and whether to try again later.

    Codes: `embedding_dimensions_mismatch` (the provider's vectors have another length than the model's
    row says), `embedding_provider_unsupported`, `embedding_misconfigured`, `embedding_bad_response`,
    and the provider failure codes of eneo.llm (`provider_rate_limited`, `provider_unavailable`,
    `provider_auth_failed`, `provider_model_not_found`, `provider_timeout`, `provider_unreachable`, ...)
    after our own retries gave up. `retryable`: a later attempt (the queue's redelivery) may succeed.
    The message is ours, never a provider's body.
    """

    def __init__(self, code: str, message: str, *, retryable: bool = False, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(code, message, retryable=retryable)
        self.status = status  # the provider's HTTP status, when one answered
        self.retry_after = retry_after

    @property
    def http_status(self) -> int:  # type: ignore[override]
        """Ours to answer with, not the provider's (`status`): 503 when a later try may work, else 502."""
        return 503 if self.retryable else 502

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, retryable={self.retryable})"


class TranscriptionError(EmbeddingError):
    """Audio could not be transcribed: code `transcription_failed`; `reason` holds the provider code."""

    def __init__(self, message: str, *, reason: str, retryable: bool = False, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__("transcription_failed", message, retryable=retryable, status=status, retry_after=retry_after)
        self.reason = reason
