"""Full-text search over `chunks.tsv` (`to_tsvector(ts_config, text)`, GIN-indexed), filtered like dense search.

Each chunk is indexed in its document's configuration (`swedish` for Swedish documents, `simple` for the
rest: eneo.knowledge.language, migration 0025), and each query word is matched in every chunk's own
configuration: stemmed as Swedish against `swedish` chunks ("barn" finds "barnen"), as before (below)
against `simple` ones, and as English against `english` ones (none today: English stemming was measured
worse, and that decision is one line). One tsquery with all three forms finds the candidates through the index;
the per-configuration test then decides which words a candidate contains.

The question's words are OR-ed, not AND-ed: `plainto_tsquery`/`websearch_to_tsquery` demand every word,
and a question ("Hur lång tid tar det att få bygglov?") is rarely written with the words of its answer.
Words that are stop words in English or Swedish are dropped (Postgres's own stop-word lists), and in
`simple` chunks longer words match as prefixes of their Swedish stem, which
catches inflections both ways ("tillstånd" finds "tillståndet", "snöröjningen" finds "snöröjning");
a stem shorter than PREFIX_MIN_CHARS would match too much, so such a word keeps its own form. Measured
on bench/retrieval_eval.py: stems took full-text R@5 from 0.70 to 0.74-0.76, and the fused R@5 from
0.72-0.76 to 0.78-0.80 (MRR 0.68 -> 0.71).

Ranked by the summed rarity (idf) of the query words a chunk contains, then by ts_rank_cd: with an
OR-query, ts_rank_cd alone ranks a chunk that repeats "kronor" above the one with the rare word the
question is about. Rarity is ln((cap + 1) / (df + 0.5)) with df counted in the searched collections
up to a cap (DF_CAP), so it costs one capped look-up per query word.

The index: Row-Level Security keeps the planner from using the GIN index for the application role, as
`tsvector @@ tsquery` is not leakproof (a non-leakproof condition may not run before the policy's, and an
index condition would): every search read all the searched collections' rows, 130-370 ms for 20-40k
chunks. Migration 0004's `chunk_text_matches(tenant, groups, tsquery, limit)` runs the match as the table
owner, for the transaction's tenant only (`app_current_tenant()`), planned per call with the actual
tsquery: 1-4 ms for the same searches. Without that function (an older schema) the search still works,
by the slow path.

Each hit also says how many of the query's terms it contains (`matched` of `terms`) and how many of the
query's words were stop words: the fusion uses them to tell a keyword query that the text answers exactly
(a case number, a name: typed without stop words) from a question and from words in common.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from eneo.retrieval.sql import server_has, uuid_array, uuid_literal

PREFIX_MIN_CHARS = 5  # shorter words match whole only: prefixes of short words match too much
MAX_TERMS = 16
# Document frequencies are counted up to this many chunks: beyond it a word is common whatever the count,
# and counting stays cheap (at most this many rows per query word).
DF_CAP = 1000

# Per query word: its tsquery for `simple` chunks, for `swedish` ones (the stem, as a prefix when long:
# compounds), and for `english` ones (the stem); and, in every row, how many of the query's words are stop
# words (in English or Swedish), which are dropped.
_TERMS = """
WITH word AS (
  SELECT lexeme, to_tsvector('english', lexeme) = ''::tsvector OR to_tsvector('swedish', lexeme) = ''::tsvector
         AS stop
  FROM unnest(tsvector_to_array(to_tsvector('simple', :query))) AS lexeme)
SELECT DISTINCT lexeme, (SELECT count(*) FROM word WHERE stop) AS stop_words,
       to_tsquery('simple', CASE
         WHEN length(stem) >= :prefix_min THEN quote_literal(stem) || ':*'
         ELSE quote_literal(lexeme) || CASE WHEN length(lexeme) >= :prefix_min THEN ':*' ELSE '' END END)::text,
       to_tsquery('swedish',
                  quote_literal(lexeme) || CASE WHEN length(stem) >= :prefix_min THEN ':*' ELSE '' END)::text,
       to_tsquery('english', quote_literal(lexeme))::text
FROM word, LATERAL coalesce((ts_lexize('swedish_stem', lexeme))[1], lexeme) AS stem
WHERE NOT stop
ORDER BY lexeme
LIMIT :max_terms
"""


TEXT_MATCHES = "chunk_text_matches(uuid,uuid[],tsquery,integer)"
CANDIDATES_MAX = 20_000  # matches scored per search at most (only when every query word is common)


@dataclass(frozen=True)
class LexicalHit:
    chunk_id: uuid.UUID
    score: float  # sum of the matched terms' idf
    matched: int  # query terms found in the chunk
    terms: int  # query terms after stop words
    possible: float = 0.0  # the score of a chunk holding every query term (sum of all their idf)
    stop_words: int = 0  # the query's words dropped as stop words: none in typed keywords, some in a question


@dataclass(frozen=True)
class Term:
    """One query word as tsquery texts, per configuration of the chunks it is matched against."""

    simple: str
    swedish: str
    english: str

    def any(self) -> str:
        """All its forms: what the index is searched with."""
        return " | ".join(f"({q})" for q in dict.fromkeys((self.simple, self.swedish, self.english)) if q)


async def query_terms(session: AsyncSession, query: str) -> tuple[list[Term], int]:
    """The query's content words (prefix matches for longer words), and how many stop words were dropped."""
    rows = (await session.execute(text(_TERMS), {"query": query, "prefix_min": PREFIX_MIN_CHARS,
                                                 "max_terms": MAX_TERMS})).all()
    return [Term(r[2], r[3] or r[2], r[4] or r[2]) for r in rows if r[2]], int(rows[0][1]) if rows else 0


def _contains(i: int) -> str:
    """SQL: candidate `m` contains query word i, in m's own configuration."""
    return (f"(CASE m.ts_config WHEN CAST('swedish' AS regconfig) THEN m.tsv @@ CAST(:s{i} AS tsquery) "
            f"WHEN CAST('english' AS regconfig) THEN m.tsv @@ CAST(:e{i} AS tsquery) "
            f"ELSE m.tsv @@ CAST(:t{i} AS tsquery) END)")


async def lexical_search(session: AsyncSession, *, tenant_id: uuid.UUID, group_ids: Sequence[uuid.UUID],
                         query: str, limit: int) -> list[LexicalHit]:
    """Chunks of these collections containing any of the query's words, best first."""
    if not group_ids or limit <= 0 or not query.strip():
        return []
    terms, stop_words = await query_terms(session, query)
    if not terms:
        return []
    if await server_has(session, "to_regprocedure('" + TEXT_MATCHES + "') IS NOT NULL"):
        def matches(tsquery: str, cap: int) -> str:
            return (f"chunk_text_matches(CAST(:tenant AS uuid), CAST(:groups AS uuid[]), CAST({tsquery} AS tsquery), "
                    f"{int(cap)})")
    else:
        where = f"c.tenant_id = {uuid_literal(tenant_id)} AND c.group_id = ANY({uuid_array(group_ids)})"

        def matches(tsquery: str, cap: int) -> str:
            return (f"(SELECT c.id, c.tsv, c.ts_config FROM chunks c WHERE c.tsv @@ CAST({tsquery} AS tsquery) "  # noqa: S608
                    f"AND {where} LIMIT {int(cap)})")

    params: dict[str, object] = {"tenant": tenant_id, "groups": list(group_ids)}
    for i, t in enumerate(terms):
        params |= {f"a{i}": t.any(), f"t{i}": t.simple, f"s{i}": t.swedish, f"e{i}": t.english}
    df_sql = ", ".join(f"(SELECT count(*) FILTER (WHERE {_contains(i)}) FROM {matches(f':a{i}', DF_CAP)} m)"  # noqa: S608
                       for i in range(len(terms)))
    counts = (await session.execute(text(f"SELECT {df_sql}"), params)).one()
    weights = [math.log((DF_CAP + 1.0) / (0.5 + n)) for n in counts]
    params |= {f"w{i}": w for i, w in enumerate(weights)}
    possible = sum(weights)
    # Candidates: chunks with a word that is not common (a common word's matches are many, and weigh ~0).
    rare = [t for t, n in zip(terms, counts, strict=True) if n < DF_CAP] or terms
    params["any"] = " | ".join(f"({t.any()})" for t in rare)
    # Which words each candidate contains, tested once per word (OFFSET 0: Postgres would otherwise inline
    # the array into each of its uses below, and test every word three times).
    hit = ", ".join(_contains(i) for i in range(len(terms)))
    candidates = (f"(SELECT m.id, m.tsv, m.ts_config, ARRAY[{hit}] AS hit "  # noqa: S608 - see matches()
                  f"FROM {matches(':any', CANDIDATES_MAX)} m OFFSET 0)")
    weighted = " + ".join(f"CASE WHEN m.hit[{i + 1}] THEN CAST(:w{i} AS float8) ELSE 0 END"
                          for i in range(len(terms)))
    matched = " + ".join(f"CASE WHEN m.hit[{i + 1}] THEN 1 ELSE 0 END" for i in range(len(terms)))
    params |= {f"all_{c}": " | ".join(f"({getattr(t, c)})" for t in terms) for c in ("simple", "swedish", "english")}
    all_terms = ("CASE m.ts_config WHEN CAST('swedish' AS regconfig) THEN CAST(:all_swedish AS tsquery) "
                 "WHEN CAST('english' AS regconfig) THEN CAST(:all_english AS tsquery) "
                 "ELSE CAST(:all_simple AS tsquery) END")
    rows = (await session.execute(text(
        f"SELECT id, score, matched FROM (SELECT m.id, {weighted} AS score, {matched} AS matched, "  # noqa: S608
        f"ts_rank_cd(m.tsv, {all_terms}) AS rank FROM {candidates} m OFFSET 0) s WHERE matched > 0 "
        f"ORDER BY score DESC, rank DESC, id LIMIT {int(limit)}"
    ), params)).all()
    return [LexicalHit(r[0], float(r[1]), int(r[2]), len(terms), possible, stop_words) for r in rows]
