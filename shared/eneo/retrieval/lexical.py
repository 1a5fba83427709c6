"""Full-text search over `chunks.tsv` (`to_tsvector('simple', text)`, GIN-indexed), filtered like dense search.

The question's words are OR-ed, not AND-ed: `plainto_tsquery`/`websearch_to_tsquery` demand every word,
and a question ("Hur lång tid tar det att få bygglov?") is rarely written with the words of its answer.
Words that are stop words in English or Swedish are dropped (Postgres's own stop-word lists, so the
'simple' column needs no language), and longer words match as prefixes, which catches Swedish
inflections and compounds' heads ("tillstånd" finds "tillståndet").

Ranked by the summed rarity (idf) of the query words a chunk contains, then by ts_rank_cd: with an
OR-query, ts_rank_cd alone ranks a chunk that repeats "kronor" above the one with the rare word the
question is about. Rarity is ln((cap + 1) / (df + 0.5)) with df counted in the searched collections
up to a cap (DF_CAP), so it costs one capped look-up per query word.

Three short statements (terms, their counts, the search), each with the words as bound tsquery values and
`plan_cache_mode = force_custom_plan`: the planner must see the words to choose between the GIN index
(a rare word) and the collection's b-tree (a common one). Given a tsquery it cannot see (a CTE, or a
generic plan), it scanned all 50k rows of a collection for a word in 12 of them (290 ms instead of ~2 ms).

Each hit also says how many of the query's terms it contains (`matched` of `terms`): the fusion uses it
to tell a keyword query that the text answers exactly (a case number, a name) from words in common.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from eneo.retrieval.sql import uuid_array, uuid_literal

PREFIX_MIN_CHARS = 5  # shorter words match whole only: prefixes of short words match too much
MAX_TERMS = 16
# Document frequencies are counted up to this many chunks: beyond it a word is common whatever the count,
# and counting stays cheap (at most this many rows per query word).
DF_CAP = 1000

_TERMS = """
SELECT DISTINCT lexeme, to_tsquery('simple', quote_literal(lexeme)
                                  || CASE WHEN length(lexeme) >= :prefix_min THEN ':*' ELSE '' END)::text
FROM unnest(tsvector_to_array(to_tsvector('simple', :query))) AS lexeme
WHERE to_tsvector('english', lexeme) <> ''::tsvector AND to_tsvector('swedish', lexeme) <> ''::tsvector
ORDER BY lexeme
LIMIT :max_terms
"""


@dataclass(frozen=True)
class LexicalHit:
    chunk_id: uuid.UUID
    score: float  # sum of the matched terms' idf
    matched: int  # query terms found in the chunk
    terms: int  # query terms after stop words


async def query_terms(session: AsyncSession, query: str) -> list[str]:
    """The query's content words as tsquery texts (prefix matches for longer words), stop words dropped."""
    rows = (await session.execute(text(_TERMS), {"query": query, "prefix_min": PREFIX_MIN_CHARS,
                                                 "max_terms": MAX_TERMS})).all()
    return [r[1] for r in rows if r[1]]


async def lexical_search(session: AsyncSession, *, tenant_id: uuid.UUID, group_ids: Sequence[uuid.UUID],
                         query: str, limit: int) -> list[LexicalHit]:
    """Chunks of these collections containing any of the query's words, best first."""
    if not group_ids or limit <= 0 or not query.strip():
        return []
    terms = await query_terms(session, query)
    if not terms:
        return []
    where = f"c.tenant_id = {uuid_literal(tenant_id)} AND c.group_id = ANY({uuid_array(group_ids)})"
    params = {f"t{i}": t for i, t in enumerate(terms)}
    previous = (await session.execute(text("SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
                                           "current_setting('plan_cache_mode')"))).one()[1]
    try:
        df = ", ".join(f"(SELECT count(*) FROM (SELECT 1 FROM chunks c WHERE c.tsv @@ CAST(:t{i} AS tsquery) "  # noqa: S608
                       f"AND {where} LIMIT {DF_CAP}) s{i})" for i in range(len(terms)))
        counts = (await session.execute(text(f"SELECT {df}"), params)).one()
        idf = {f"w{i}": math.log((DF_CAP + 1.0) / (0.5 + n)) for i, n in enumerate(counts)}
        weighted = " + ".join(f"CASE WHEN c.tsv @@ CAST(:t{i} AS tsquery) THEN CAST(:w{i} AS float8) ELSE 0 END"
                              for i in range(len(terms)))
        matched = " + ".join(f"CASE WHEN c.tsv @@ CAST(:t{i} AS tsquery) THEN 1 ELSE 0 END"
                             for i in range(len(terms)))
        rows = (await session.execute(text(
            f"SELECT c.id, {weighted} AS score, {matched} AS matched FROM chunks c "  # noqa: S608 - see above
            f"WHERE c.tsv @@ CAST(:any AS tsquery) AND {where} "
            f"ORDER BY score DESC, ts_rank_cd(c.tsv, CAST(:any AS tsquery)) DESC, c.id LIMIT {int(limit)}"
        ), {**params, **idf, "any": " | ".join(f"({t})" for t in terms)})).all()
    finally:
        await session.execute(text("SELECT set_config('plan_cache_mode', :v, true)"), {"v": previous})
    return [LexicalHit(r[0], float(r[1]), int(r[2]), len(terms)) for r in rows]
