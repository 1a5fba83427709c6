"""Fusing the dense and the lexical ranking into one.

Measured on three sets (bench/retrieval_eval.py: our invented municipality, a public English and a
Swedish SQuAD subset, each chunked and embedded as ingestion does), reciprocal-rank fusion, plain or
gated, threw away what the scores say: a chunk first in full text by a wide margin counted the same as one
first by a hair. The previous gate, which gave full text more say when the top two dense scores were
close, read two overlapping chunks of one document (close by construction) as doubt, and on a held-out
set pushed dense's right answer out of the top 10. So the fusion is a weighted sum of the two scores,
each normalised to [0, 1] within its list:

    dense:   (cos - DENSE_FLOOR) / (cos_1 - DENSE_FLOOR), at least 0  (a fixed floor: the same chunk scores
             the same whatever else the list holds)
    lexical: idf_sum / idf_sum_1                                     (the share of the best hit's evidence;
             of the whole query's when no hit holds more than one of its several words)
    score  = a * dense + (1 - a) * lexical
    a      = min(DENSE_MAX, DENSE_BASE + document margin)

The document margin is how far the best dense chunk is ahead of the best chunk of *another document*:
a dense list sure of its document gets more say; sibling chunks never make it look unsure. A keyword
query (at most three content words and no stop word, all in one chunk: a case number, a name) caps `a` at
KEYWORD_DENSE, below one half, as identifiers are what dense models know least: the only chunk holding the
identifier then leads over the dense list's guess. A short question is not one. The constants were chosen
on those sets (figures in docs/knowledge.md).

No weighting is right for every collection: on WikiQA (real search-engine questions over Wikipedia
paragraphs, which share few words with their answers) the weighted sum still fell below dense alone at 5
and 10 (0.975 and 0.988 against 0.996), as a chunk holding one of the question's words outscored dense's
first or second answer. So each list keeps its HEAD_EACH best hits among the first 2 * HEAD_EACH places
(in fused order): the fused top four always holds dense's top two and full text's top two, whichever of
the two the weights misjudge. With it, and the two rules for short questions above (no keyword rule for
a question, one shared word is not full text's best evidence), the fusion is not below dense at any k on
six sets, WikiQA with each paragraph after its `# title` included.

A weighted sum cannot say "this document, but maybe another of its chunks". On WikiQA's train split, held
out, a chunk of another document holding more of a question's everyday words took the first place from
dense's answer in 23 questions (10 of them with dense's document 0.1 or more ahead of the next), and
gave it to the right one in 8 (none of them). So when dense's best document is DOCUMENT_SURE ahead of
every other (and the query is not a keyword query), the first place goes to that document's best-fused
chunk: full text still picks among its chunks. The value was chosen on half of every set's questions and
lowered nothing on the other half (bench/document_first.py); on that split hybrid is still one to four
questions of 872 below dense at 1 (docs/knowledge.md, "Dense's sure document keeps the first place").

Each `Fused` keeps both ranks (None where a list does not hold the chunk), for callers that show them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from eneo.retrieval.lexical import LexicalHit
from eneo.retrieval.vector import Scored

RRF_K = 60  # reciprocal-rank fusion's usual constant (merging lists of different embedding models)
KEYWORD_MAX_TERMS = 3  # a query of at most this many content words is a keyword query
DENSE_FLOOR = 0.1  # a cosine similarity at or below this counts for nothing (MiniLM: unrelated text)
DENSE_BASE = 0.35  # the dense score's weight when its best document is no better than the next
DENSE_MAX = 0.85  # ... and at most, however sure it is
KEYWORD_DENSE = 0.4  # at most this for a keyword query: below 1/2, so full text's only holder wins
HEAD_EACH = 2  # each list's best this many always come first (measured: 1 too few on WikiQA, 3 costs squad-sv)
DOCUMENT_SURE = 0.1  # a document margin (cosine) from which the first hit comes from dense's best document


@dataclass(frozen=True)
class Fused:
    chunk_id: uuid.UUID
    score: float  # in [0, 1]; 1.0 = first in every list used
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


def document_margin(dense: Sequence[Scored]) -> float:
    """How far the best dense chunk is ahead of the best chunk of another document (cosine); 1.0 when no
    other document is listed, 0.0 for an empty list. A chunk without a document id counts as its own."""
    if not dense:
        return 0.0
    first = dense[0]
    for hit in dense[1:]:
        if hit.document_id is None or hit.document_id != first.document_id:
            return max(0.0, first.score - hit.score)
    return 1.0


def is_keyword_query(lexical: Sequence[LexicalHit]) -> bool:
    """At most KEYWORD_MAX_TERMS content words and no stop word (typed as keywords, not asked), all found in
    one chunk. A short question ("when did texas become a state") is not one: on WikiQA the rule fired on a
    third of the questions and gave full text the lead where dense knew better."""
    return any(0 < h.terms <= KEYWORD_MAX_TERMS and h.matched == h.terms and h.stop_words == 0 for h in lexical)


def dense_weight(dense: Sequence[Scored], lexical: Sequence[LexicalHit]) -> float:
    """The dense score's share `a` of the fused score (full text has 1 - a)."""
    if not lexical:
        return 1.0
    if not dense:
        return 0.0
    a = min(DENSE_MAX, DENSE_BASE + document_margin(dense))
    return min(a, KEYWORD_DENSE) if is_keyword_query(lexical) else a


def _dense_scores(dense: Sequence[Scored]) -> dict[uuid.UUID, float]:
    if not dense:
        return {}
    top = dense[0].score
    if top <= DENSE_FLOOR:
        return {h.chunk_id: 1.0 if h.score >= top else 0.0 for h in dense}
    return {h.chunk_id: max(0.0, (h.score - DENSE_FLOOR) / (top - DENSE_FLOOR)) for h in dense}


def _lexical_scores(lexical: Sequence[LexicalHit]) -> dict[uuid.UUID, float]:
    """Each hit's share of the best hit's evidence; but when no hit holds more than one of the query's
    several words, full text found words in common, not an answer, and each hit counts by its share of the
    whole query's (`possible`): one word of "what is a google in math" is not the most full text can say."""
    top = max((h.score for h in lexical), default=0.0)
    if lexical and lexical[0].terms > 1 and max(h.matched for h in lexical) == 1:
        top = max(top, lexical[0].possible)
    return {h.chunk_id: h.score / top if top > 0 else 1.0 for h in lexical}


def fuse(dense: Sequence[Scored], lexical: Sequence[LexicalHit], limit: int) -> list[Fused]:
    """The best `limit` chunks by the weighted sum of the normalised scores (ties: dense order, then full
    text's), each list's heads first and dense's sure document's best chunk first of all (module docstring).
    Either list may be empty: the other one's order comes back, scored."""
    a = dense_weight(dense, lexical)
    d, x = _dense_scores(dense), _lexical_scores(lexical)
    dense_rank = {h.chunk_id: i for i, h in enumerate(dense, start=1)}
    lexical_rank = {h.chunk_id: i for i, h in enumerate(lexical, start=1)}
    order = list(dict.fromkeys([*dense_rank, *lexical_rank]))
    scored = sorted(((c, a * d.get(c, 0.0) + (1 - a) * x.get(c, 0.0)) for c in order), key=lambda p: -p[1])
    if dense and lexical:
        scored = _heads_first(scored, [*(h.chunk_id for h in dense[:HEAD_EACH]),
                                       *(h.chunk_id for h in lexical[:HEAD_EACH])])
        if document_margin(dense) >= DOCUMENT_SURE and not is_keyword_query(lexical):
            scored = _sure_document_first(scored, dense)
    return [Fused(c, s, dense_rank.get(c), lexical_rank.get(c)) for c, s in scored[:limit]]


def _heads_first(scored: list[tuple[uuid.UUID, float]], heads: Sequence[uuid.UUID]) -> list[tuple[uuid.UUID, float]]:
    """The `heads` (in fused order) before the rest; a head placed above better-scored hits takes the best
    score it passed, so scores never rise down the list."""
    keep = set(heads)
    ordered = [p for p in scored if p[0] in keep] + [p for p in scored if p[0] not in keep]
    out: list[tuple[uuid.UUID, float]] = []
    floor = 0.0
    for c, score in reversed(ordered):
        floor = max(floor, score)
        out.append((c, floor))
    return out[::-1]


def _sure_document_first(scored: list[tuple[uuid.UUID, float]], dense: Sequence[Scored]
                         ) -> list[tuple[uuid.UUID, float]]:
    """The best-fused chunk of dense's best document first, with the first place's score. Full text still
    chooses among that document's chunks (which sibling holds the answer); it no longer overrules the document.
    Dense's first chunk is a head, so the chunk moved is among the heads and they all stay in front."""
    top = dense[0]
    document = {h.chunk_id: h.document_id for h in dense}
    i = next(i for i, (c, _) in enumerate(scored)
             if c == top.chunk_id or (top.document_id is not None and document.get(c) == top.document_id))
    if i == 0:
        return scored
    return [(scored[i][0], scored[0][1]), *scored[:i], *scored[i + 1:]]


def rank_fuse(dense: Sequence[Scored], lexical: Sequence[LexicalHit], limit: int, weight: float = 1.0
              ) -> list[Fused]:
    """Reciprocal-rank fusion with full text at `weight` (1.0 = plain RRF): the baseline the evaluation
    compares `fuse` with."""
    dense_ids = [h.chunk_id for h in dense]
    lexical_ids = [h.chunk_id for h in lexical]
    dense_rank = {c: i for i, c in enumerate(dense_ids, start=1)}
    lexical_rank = {c: i for i, c in enumerate(lexical_ids, start=1)}
    lists = [(ids, w) for ids, w in ((dense_ids, 1.0), (lexical_ids, weight)) if ids and w > 0]
    ranked = rrf([ids for ids, _ in lists], [w for _, w in lists]) if lists else []
    return [Fused(c, s, dense_rank.get(c), lexical_rank.get(c)) for c, s in ranked[:limit]]
