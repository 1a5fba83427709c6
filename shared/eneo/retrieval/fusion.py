"""Fusing the dense and the lexical ranking.

Plain reciprocal-rank fusion (RRF) gives both lists the same say. Where the dense model is sure, that
hurts: the full-text list is led by passages sharing the question's everyday words and pushes the
passage the dense list had first down. Where the dense model is unsure (a flat top: Swedish questions
to an English-trained MiniLM), the full-text list knows more and should lead. So the lexical list's
weight next to dense (weight 1) follows the dense list's confidence, its top-1 margin in cosine
similarity (`lexical_weight`):

    w = LEXICAL_MAX * max(0, 1 - (s1 - s2) / MARGIN_SURE)

a margin of MARGIN_SURE or more is a sure dense list (w = 0: the dense ranking as it is); a flat top
gives the full-text list twice the dense list's say. A keyword query (at most three content words,
all in the best full-text hit: a case number, a name) keeps more than equal weight (KEYWORD_WEIGHT), as
identifiers are what dense models know least: at equal weight the only chunk holding the identifier, first
in full text and absent from the dense list, ties with the dense list's first guess and loses the tie.
bench/retrieval_eval.py shows the effect on tests/fixtures/corpus; the two
constants were chosen there (0.15-0.2 and 2 are a plateau), so that set flatters them a little.

The scores are normalised so that 1.0 means first in every list at the weights used.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from eneo.retrieval.lexical import LexicalHit
from eneo.retrieval.vector import Scored

RRF_K = 60  # the usual constant: ranks 1 and 2 differ little, the top 60 all count
KEYWORD_MAX_TERMS = 3  # a query of at most this many content words is a keyword query
KEYWORD_WEIGHT = 1.25  # the least lexical weight for a keyword query: above 1, so it wins a tie with dense
LEXICAL_MAX = 2.0
MARGIN_SURE = 0.15


@dataclass(frozen=True)
class Fused:
    chunk_id: uuid.UUID
    score: float  # in (0, 1]
    dense_rank: int | None  # 1-based, None if not in the list
    lexical_rank: int | None


def rrf(rankings: Sequence[Sequence[uuid.UUID]], weights: Sequence[float] | None = None,
        k: int = RRF_K) -> list[tuple[uuid.UUID, float]]:
    """Weighted reciprocal-rank fusion: sum of weight / (k + rank), best first (ties by first appearance)."""
    weights = weights or [1.0] * len(rankings)
    scores: dict[uuid.UUID, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    top = sum(w for w in weights if w > 0) / (k + 1) or 1.0
    return sorted(((item, s / top) for item, s in scores.items()), key=lambda p: -p[1])


def dense_margin(dense: Sequence[Scored]) -> float:
    """The top-1 margin of the dense ranking (cosine similarity); 1.0 for a list of one, 0.0 for none."""
    if len(dense) < 2:
        return 1.0 if dense else 0.0
    return max(0.0, dense[0].score - dense[1].score)


def is_keyword_query(lexical: Sequence[LexicalHit]) -> bool:
    """At most KEYWORD_MAX_TERMS content words, all found in one chunk."""
    return any(0 < h.terms <= KEYWORD_MAX_TERMS and h.matched == h.terms for h in lexical)


def lexical_weight(dense: Sequence[Scored], lexical: Sequence[LexicalHit]) -> float:
    """How much say the full-text ranking gets next to the dense one (weight 1)."""
    if not lexical:
        return 0.0
    weight = LEXICAL_MAX * max(0.0, 1.0 - dense_margin(dense) / MARGIN_SURE)
    return max(weight, KEYWORD_WEIGHT) if is_keyword_query(lexical) else weight


def fuse(dense: Sequence[Scored], lexical: Sequence[LexicalHit], limit: int,
         weight: float | None = None) -> list[Fused]:
    """The gated fusion: `weight` overrides the lexical weight (1.0 = plain RRF)."""
    w = lexical_weight(dense, lexical) if weight is None else weight
    dense_ids = [h.chunk_id for h in dense]
    lexical_ids = [h.chunk_id for h in lexical]
    dense_rank = {c: i for i, c in enumerate(dense_ids, start=1)}
    lexical_rank = {c: i for i, c in enumerate(lexical_ids, start=1)}
    ranked = rrf([dense_ids, lexical_ids], [1.0, w]) if w > 0 else rrf([dense_ids])
    return [Fused(c, s, dense_rank.get(c), lexical_rank.get(c)) for c, s in ranked[:limit]]
