"""Embeddings and transcriptions from OpenAI, Azure OpenAI and OpenAI-compatible servers (openai SDK).

Reuses eneo.llm's client per provider account and loop, its error classification and its retry policy,
so chat, embeddings and transcription of one provider share connections and fail the same way. Imported
on first use only (the SDK takes about 0.5 s to import).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

from eneo.embeddings.types import EmbeddingError, Purpose, TranscriptionError
from eneo.llm import errors
from eneo.llm.openai_provider import classify, request_timeout, sdk_client
from eneo.llm.retry import with_retries
from eneo.llm.types import ProviderConfig, ProviderError, RetryPolicy

log = logging.getLogger("eneo.embeddings")
T = TypeVar("T")

DEFAULT_RETRY = RetryPolicy(max_attempts=3, base_delay=0.5, max_delay=8.0, connect_timeout=10.0, idle_timeout=60.0)
# Transcribing a long recording takes minutes, and a retry re-uploads up to 25 MB: one retry at most.
TRANSCRIBE_RETRY = RetryPolicy(max_attempts=2, base_delay=1.0, max_delay=8.0, connect_timeout=10.0,
                               idle_timeout=600.0)
SUPPORTED = ("openai", "azure", "openai_compatible")


async def _retried(config: ProviderConfig, retry: RetryPolicy, call: Callable[[], Awaitable[T]],
                        what: str) -> T:
    """`call()` with SDK errors classified by eneo.llm, in eneo.llm's retry loop. Raises ProviderError."""
    async def translated() -> T:
        with errors.translated(classify):
            return await call()

    return await with_retries(translated, retry, what=what, provider=config.type, logger=log)


def _embedding_error(error: ProviderError) -> EmbeddingError:
    return EmbeddingError(error.code, error.message, retryable=error.retryable, status=error.status,
                          retry_after=error.retry_after)


def _check_supported(config: ProviderConfig) -> None:
    if config.type not in SUPPORTED:
        raise EmbeddingError("embedding_provider_unsupported",
                             f"Provider type {config.type!r} offers no embeddings or transcriptions")


def _normalised(vector: list[float]) -> list[float]:
    norm = math.sqrt(math.fsum(x * x for x in vector))
    if not norm or not math.isfinite(norm):
        raise EmbeddingError("embedding_bad_response", "The provider returned a zero or non-finite vector",
                             retryable=True)
    return [x / norm for x in vector]


class ProviderEmbedder:
    """One embedding model of one provider account. `name` is the model (Azure: the deployment)."""

    def __init__(self, config: ProviderConfig, name: str, dimensions: int, *, max_batch: int = 64,
                 retry: RetryPolicy = DEFAULT_RETRY) -> None:
        _check_supported(config)
        self.config, self.name, self.dimensions = config, name, dimensions
        self.max_batch, self.retry = max_batch, retry
        # OpenAI's text-embedding-3 models return shorter vectors when asked (`dimensions`), so a row may
        # register 256 or 512 of text-embedding-3-large's 3072. Older models and other servers refuse or
        # ignore the parameter: it is sent only to OpenAI's own API (Azure included) for those models.
        self._shortens = config.type in ("openai", "azure") and "text-embedding-3" in name.lower()

    def __repr__(self) -> str:  # the config's repr already hides the key
        return f"ProviderEmbedder({self.config.type!r}, {self.name!r}, dimensions={self.dimensions})"

    async def embed(self, texts: list[str], *, purpose: Purpose = "query") -> list[list[float]]:
        """Unit vectors in input order, `max_batch` texts per request. Raises EmbeddingError.

        `purpose` is ignored: the OpenAI-style API has no document/query distinction (a model that wants a
        prefix gets the text as is, as before)."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.max_batch):
            vectors += await self._batch(texts[start:start + self.max_batch])
        return vectors

    async def _batch(self, texts: list[str]) -> list[list[float]]:
        # OpenAI refuses an empty string in `input`; a blank embeds like a space.
        inputs = [text if text.strip() else " " for text in texts]
        try:
            client = sdk_client(self.config)
            from openai import omit  # the SDK is loaded by sdk_client already

            dimensions = self.dimensions if self._shortens else omit
            response = await _retried(self.config, self.retry, lambda: client.embeddings.create(
                model=self.name, input=inputs, encoding_format="float", dimensions=dimensions,
                timeout=request_timeout(self.retry)), "Embedding")
        except ProviderError as error:
            if error.code == "provider_misconfigured":
                raise EmbeddingError("embedding_misconfigured", error.message) from None
            raise _embedding_error(error) from None
        data = list(response.data)
        if all(isinstance(item.index, int) for item in data):  # some compatible servers leave it out: keep order
            data.sort(key=lambda item: item.index)
            if [item.index for item in data] != list(range(len(data))):
                raise EmbeddingError("embedding_bad_response", "The provider returned vectors with wrong indices",
                                     retryable=True)
        if len(data) != len(inputs):
            raise EmbeddingError("embedding_bad_response", f"The provider returned {len(data)} vectors for "
                                 f"{len(inputs)} texts", retryable=True)
        vectors: list[list[float]] = []
        for item in data:
            if len(item.embedding) != self.dimensions:
                raise EmbeddingError("embedding_dimensions_mismatch", f"{self.name} returned vectors of "
                                     f"{len(item.embedding)} dimensions; the model is configured with "
                                     f"{self.dimensions}")
            vectors.append(_normalised(item.embedding))
        return vectors


async def transcribe(config: ProviderConfig, model: str, data: bytes, filename: str,
                     retry: RetryPolicy = TRANSCRIBE_RETRY) -> str:
    """The text of an audio file (`audio.transcriptions.create`). Raises TranscriptionError."""
    try:
        _check_supported(config)
    except EmbeddingError as error:
        raise TranscriptionError(error.message, reason=error.code) from None
    try:
        client = sdk_client(config)
        result = await _retried(config, retry, lambda: client.audio.transcriptions.create(
            model=model, file=(filename, data), timeout=request_timeout(retry)), "Transcription")
    except ProviderError as error:
        raise TranscriptionError(f"Transcription failed: {error.message}", reason=error.code,
                                 retryable=error.retryable, status=error.status,
                                 retry_after=error.retry_after) from None
    text = result if isinstance(result, str) else getattr(result, "text", None)
    if not isinstance(text, str):
        raise TranscriptionError("The transcription service returned no text", reason="bad_response")
    return text
