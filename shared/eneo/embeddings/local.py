"""The built-in all-MiniLM-L6-v2 embedder (eneo.embeddings.minilm, int8 layers: minilm_int8), as an Embedder.

numpy, tokenizers and the weights load on the first embed (or `load()`), not on import: a function
that never embeds pays nothing. The forward pass runs in a worker thread so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import TYPE_CHECKING

from eneo.embeddings.builtin import DIMENSIONS, MAX_INPUT_TOKENS, NAME
from eneo.embeddings.types import Purpose

if TYPE_CHECKING:
    from eneo.embeddings.minilm import MiniLM


class LocalEmbedder:
    name = NAME
    dimensions = DIMENSIONS
    max_input_tokens = MAX_INPUT_TOKENS
    max_batch = 32  # texts per forward pass: larger batches gain nothing on CPU and cost memory

    def load(self) -> None:
        """Load the weights now (e.g. at a function's cold start) instead of on the first embed."""
        model()

    def encode(self, texts: list[str]) -> list[list[float]]:
        """Synchronous embed (the worker thread's part; also for scripts)."""
        if not texts:
            return []
        vectors: list[list[float]] = model().encode(texts, batch_size=self.max_batch).tolist()
        return vectors

    async def embed(self, texts: list[str], *, purpose: Purpose = "query") -> list[list[float]]:
        """`purpose` is ignored: MiniLM embeds chunks and questions alike."""
        return await asyncio.to_thread(self.encode, list(texts))


def model() -> MiniLM:
    """The model the embedder runs: int8 encoder layers where ONNX Runtime is installed and
    settings.local_embedder_int8 is on (the default), else float32 numpy."""
    from eneo.core.settings import get_settings
    from eneo.embeddings import minilm

    if get_settings().local_embedder_int8 and minilm.int8_available():
        from eneo.embeddings import minilm_int8

        return minilm_int8.load()
    return minilm.load()


def preload() -> bool:
    """Load the built-in model now, at a function's init: the first message then waits for no weights
    and no graph (about 2 s of a cold start; bench/ingestion.py). A missing model (no ModelLayer, no
    wheel) is logged, not raised: the function still serves collections on other models, and an embed
    on this one reports the error as it would have."""
    try:
        local_embedder().load()
    except (ImportError, OSError) as exc:
        logging.getLogger("eneo.embeddings").warning("built-in embedder not preloaded", extra={
            "error": type(exc).__name__})
        return False
    return True


_instance: LocalEmbedder | None = None
_lock = threading.Lock()


def local_embedder() -> LocalEmbedder:
    """The process-wide local embedder (one copy of the weights per process)."""
    global _instance
    with _lock:
        if _instance is None:
            _instance = LocalEmbedder()
        return _instance
