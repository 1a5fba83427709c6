"""Full-text search over `chunks.tsv` (`to_tsvector('simple', text)`, GIN-indexed), filtered like dense search.

The question's words are OR-ed, not AND-ed: `plainto_tsquery`/`websearch_to_tsquery` demand every word,
and a question ("Hur lång tid tar det att få bygglov?") is rarely written with the words of its answer.
Words that are stop words in English or Swedish are dropped (Postgres's own stop-word lists, so the
'simple' column needs no language), and longer words match as prefixes, which catches Swedish
inflections and compounds' heads ("tillstånd" finds "tillståndet").

Ranked by the summed rarity (idf) of the query words a chunk contains, then by ts_rank_cd: with an
OR-query, ts_rank_cd alone ranks a chunk that repeats "kronor" above the one with the rare word the
question is about. Rarity is ln((cap + 1) / (df + 0.5)) with df counted in the searched collections
up to a cap (DF_CAP), so it costs one capped index look-up per query word.

Each hit also says how many of the query's terms it contains (`matched` of `terms`): the fusion uses it
to tell a keyword query that the text answers exactly (a case number, a name) from words in common.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

PREFIX_MIN_CHARS = 5  # shorter words match whole only: prefixes of short words match too much
MAX_TERMS = 32
# Document frequencies are counted up to this many chunks: beyond it a word is common whatever the count,
# and counting stays cheap (a GIN look-up and at most this many rows per query word).
DF_CAP = 1000

_QUERY_TERMS = """
terms AS (
  SELECT DISTINCT lexeme,
         to_tsquery('simple', quote_literal(lexeme) || CASE WHEN length(lexeme) >= :prefix_min THEN ':*' ELSE '' END)
           AS tq
  FROM unnest(tsvector_to_array(to_tsvector('simple', :query))) AS lexeme
  WHERE to_tsvector('english', lexeme) <> ''::tsvector AND to_tsvector('swedish', lexeme) <> ''::tsvector
  LIMIT :max_terms
), weighted AS (
  SELECT t.tq, ln((:df_cap + 1.0) / (0.5 + (
           SELECT count(*) FROM (SELECT 1 FROM chunks d WHERE d.tsv @@ t.tq AND d.tenant_id = :tenant_id
                                 AND d.group_id = ANY(:group_ids) LIMIT :df_cap) s))) AS idf
  FROM terms t
), q AS (
  SELECT (SELECT to_tsquery('simple', string_agg('(' || tq::text || ')', ' | ')) FROM terms) AS tq,
         (SELECT count(*) FROM terms) AS n
)
"""


@dataclass(frozen=True)
class LexicalHit:
    chunk_id: uuid.UUID
    score: float  # sum of the matched terms' idf
    matched: int  # query terms found in the chunk
    terms: int  # query terms after stop words


async def lexical_search(session: AsyncSession, *, tenant_id: uuid.UUID, group_ids: Sequence[uuid.UUID],
                         query: str, limit: int) -> list[LexicalHit]:
    """Chunks of these collections containing any of the query's words, best first."""
    if not group_ids or limit <= 0 or not query.strip():
        return []
    rows = (await session.execute(text(
        f"WITH {_QUERY_TERMS} "  # noqa: S608 - a constant
        "SELECT c.id, m.idf, ts_rank_cd(c.tsv, q.tq) AS density, m.matched, q.n "
        "FROM q JOIN chunks c ON c.tsv @@ q.tq "
        "CROSS JOIN LATERAL (SELECT coalesce(sum(w.idf), 0) AS idf, count(*) AS matched FROM weighted w "
        "                    WHERE c.tsv @@ w.tq) m "
        "WHERE c.tenant_id = :tenant_id AND c.group_id = ANY(:group_ids) "
        "ORDER BY m.idf DESC, density DESC, c.id LIMIT :limit"
    ), {"query": query, "prefix_min": PREFIX_MIN_CHARS, "max_terms": MAX_TERMS, "tenant_id": tenant_id,
        "group_ids": list(group_ids), "limit": limit, "df_cap": DF_CAP})).all()
    return [LexicalHit(r[0], float(r[1]), int(r[3]), int(r[4])) for r in rows]
