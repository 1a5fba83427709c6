"""The built-in all-MiniLM-L6-v2 embedder (eneo.embeddings.minilm), as an Embedder.

numpy, tokenizers and the weights load on the first embed (or `load()`), not on import: a function
that never embeds pays nothing. The forward pass runs in a worker thread so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import threading

from eneo.embeddings.builtin import DIMENSIONS, MAX_INPUT_TOKENS, NAME


class LocalEmbedder:
    name = NAME
    dimensions = DIMENSIONS
    max_input_tokens = MAX_INPUT_TOKENS
    max_batch = 32  # texts per forward pass: larger batches gain nothing on CPU and cost memory

    def load(self) -> None:
        """Load the weights now (e.g. at a function's cold start) instead of on the first embed."""
        from eneo.embeddings import minilm

        minilm.load()

    def encode(self, texts: list[str]) -> list[list[float]]:
        """Synchronous embed (the worker thread's part; also for scripts)."""
        from eneo.embeddings import minilm

        if not texts:
            return []
        vectors: list[list[float]] = minilm.load().encode(texts, batch_size=self.max_batch).tolist()
        return vectors

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.encode, list(texts))


_instance: LocalEmbedder | None = None
_lock = threading.Lock()


def local_embedder() -> LocalEmbedder:
    """The process-wide local embedder (one copy of the weights per process)."""
    global _instance
    with _lock:
        if _instance is None:
            _instance = LocalEmbedder()
        return _instance
