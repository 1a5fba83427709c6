"""Hybrid retrieval: dense (per embedding model) + full-text, fused, always filtered by tenant and collections.

Callers pass collections the asker may read (eneo.knowledge.service.access.readable_group_ids); every statement
still filters by `tenant_id` and `group_id = ANY(...)` (and RLS binds the tenant besides).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from eneo.embeddings import Embedder
from eneo.retrieval.fusion import Fused, fuse, rrf
from eneo.retrieval.lexical import LexicalHit, lexical_search
from eneo.retrieval.vector import ModelRef, Scored, dense_search

# Each list is fetched this deep whatever the caller's `limit` (the largest a request may ask for): the
# fusion's inputs, and so its order, must not depend on the page size (with a depth that grew with `limit`,
# half the questions of a public QA set had another top 10 at limit=100 than at limit=10).
DEPTH = 100
DEPTH_MIN = DEPTH  # the name tests/fixtures/corpus/evaluate.py knows
Method = Literal["hybrid", "dense", "lexical"]
METHODS: tuple[Method, ...] = ("hybrid", "dense", "lexical")
HISTORY_TURNS = 2  # recent user turns that go into the query with the question
HISTORY_CHARS = 600


@dataclass(frozen=True)
class Hit:
    chunk_id: uuid.UUID
    info_blob_id: uuid.UUID
    title: str
    chunk_index: int
    text: str
    page: int | None
    score: float  # fused, in (0, 1]: 1.0 = first in both rankings
    group_id: uuid.UUID | None = None
    url: str | None = None  # a crawled page's address (eneo.websites)


async def _hydrate(session: AsyncSession, tenant_id: uuid.UUID, group_ids: Sequence[uuid.UUID],
                   fused: Sequence[Fused]) -> list[Hit]:
    """The chunks' text and their documents' titles, in fused order (filtered again, by tenant and group)."""
    if not fused:
        return []
    rows = (await session.execute(text(
        "SELECT c.id, c.info_blob_id, b.title, c.chunk_index, c.text, c.page, c.group_id, b.source_url "
        "FROM chunks c JOIN info_blobs b ON b.id = c.info_blob_id AND b.tenant_id = c.tenant_id "
        "WHERE c.id = ANY(:ids) AND c.tenant_id = :tenant_id AND c.group_id = ANY(:group_ids)"
    ), {"ids": [f.chunk_id for f in fused], "tenant_id": tenant_id, "group_ids": list(group_ids)})).all()
    by_id = {r[0]: r for r in rows}
    return [Hit(r[0], r[1], r[2], r[3], r[4], r[5], f.score, r[6], r[7])
            for f in fused if (r := by_id.get(f.chunk_id)) is not None]


async def search(session: AsyncSession, *, tenant_id: uuid.UUID, group_ids: Sequence[uuid.UUID], query_text: str,
                 query_vector: Sequence[float] | None, embedding_model: ModelRef, limit: int,
                 method: Method = "hybrid") -> list[Hit]:
    """The best `limit` chunks of these collections (all embedded with `embedding_model`) for the query.

    `query_vector` is the query embedded with that model; None searches full text only. The first k hits
    are the same for any `limit` >= k.
    """
    fused = await ranking(session, tenant_id=tenant_id, group_ids=group_ids, query_text=query_text,
                          query_vector=query_vector, embedding_model=embedding_model, method=method)
    return await _hydrate(session, tenant_id, group_ids, fused[:limit])


async def fused_ranking(session: AsyncSession, *, tenant_id: uuid.UUID, group_ids: Sequence[uuid.UUID],
                        query_text: str, query_vector: Sequence[float] | None, embedding_model: ModelRef,
                        limit: int, method: Method = "hybrid") -> list[Fused]:
    """`search` without the chunks' text: ids and scores."""
    if limit <= 0:
        return []
    return (await ranking(session, tenant_id=tenant_id, group_ids=group_ids, query_text=query_text,
                          query_vector=query_vector, embedding_model=embedding_model, method=method))[:limit]


async def ranking(session: AsyncSession, *, tenant_id: uuid.UUID, group_ids: Sequence[uuid.UUID], query_text: str,
                  query_vector: Sequence[float] | None, embedding_model: ModelRef, method: Method = "hybrid"
                  ) -> list[Fused]:
    """The whole ranking (DEPTH long at most) by one method: `dense` (vectors alone), `lexical` (full text
    alone) or `hybrid` (both, fused: eneo.retrieval.fusion). Without a query vector, full text alone."""
    group_ids = list(dict.fromkeys(group_ids))
    if not group_ids:
        return []
    dense: list[Scored] = []
    if query_vector is not None and method != "lexical":
        dense = (await dense_search(session, tenant_id=tenant_id, group_ids=group_ids, model=embedding_model,
                                    vector=query_vector, limit=DEPTH)).hits
    lexical: list[LexicalHit] = []
    if method != "dense" or query_vector is None:
        lexical = await lexical_search(session, tenant_id=tenant_id, group_ids=group_ids, query=query_text,
                                       limit=DEPTH)
    if method == "dense" and dense:
        return fuse(dense, [], DEPTH)
    if method == "lexical" or not dense:
        return fuse([], lexical, DEPTH)
    return fuse(dense, lexical, DEPTH)


def question_query(question: str, history: Sequence[str] = ()) -> str:
    """The question first, then the latest user turns (a follow-up's subject is often in them).

    Question first: embedders truncate at the end, so a long history loses its oldest words, never the
    question's.
    """
    recent = [h.strip() for h in history[-HISTORY_TURNS:] if h.strip()]
    return "\n".join([question.strip(), *reversed(recent)])[: len(question) + HISTORY_CHARS]


# The embedder of an embedding model (by id); default: eneo.model_providers.clients.model_embedder.
EmbedderFor = Callable[[uuid.UUID], Awaitable[Embedder]]


@dataclass(frozen=True)
class _Model:
    """The fields of an `embedding_models` row that search and embedder_for need, read with the groups."""

    id: uuid.UUID
    dimensions: int
    name: str
    provider_id: uuid.UUID | None


async def retrieve_for_question(session: AsyncSession, *, tenant_id: uuid.UUID, group_ids: Sequence[uuid.UUID],
                                question: str, history: Sequence[str] = (), limit: int = 10,
                                embedder_for: EmbedderFor | None = None) -> list[Hit]:
    """Chunks for an assistant's answer, from the given collections (which the asker may read).

    The question with the recent user turns (`history`, oldest first) is embedded once per embedding model
    the collections use (with that model's embedder: `await embedder_for(model_id)`, by default the
    model's row and provider through eneo.embeddings.embedder_for), each model's collections are searched, and the
    lists are fused by reciprocal rank (their scores are not comparable), one hit per chunk.
    Raises eneo.embeddings.EmbeddingError when a model cannot embed. The session's transaction stays open
    while a provider embeds the query (one short call per model): callers that must not hold a pooled
    connection that long use a null pool (as `complete` does).
    """
    group_ids = list(dict.fromkeys(group_ids))
    if not group_ids or limit <= 0 or not question.strip():
        return []
    rows = (await session.execute(text(
        "SELECT g.id, m.id, m.dimensions, m.name, m.provider_id FROM groups g "
        "JOIN embedding_models m ON m.id = g.embedding_model_id AND m.tenant_id = g.tenant_id "
        "WHERE g.tenant_id = :tenant_id AND g.id = ANY(:group_ids) ORDER BY m.id, g.id"
    ), {"tenant_id": tenant_id, "group_ids": group_ids})).all()
    per_model: dict[_Model, list[uuid.UUID]] = {}
    for group_id, *columns in rows:
        per_model.setdefault(_Model(*columns), []).append(group_id)
    query = question_query(question, history)
    # Loaded here: the knowledge function searches without ever decrypting a provider's key at import.
    from eneo.model_providers.clients import model_embedder

    results: list[list[Fused]] = []
    for model, groups in per_model.items():
        # The model's row came with its groups: the default embedder reads only a provider's row, if any.
        embedder = await (embedder_for(model.id) if embedder_for else model_embedder(session, tenant_id, model))
        vector = (await embedder.embed([query]))[0]
        results.append(await ranking(session, tenant_id=tenant_id, group_ids=groups, query_text=query,
                                     query_vector=vector, embedding_model=model))
    return await _hydrate(session, tenant_id, group_ids, merge_rankings(results)[:limit])


def merge_rankings(results: Sequence[Sequence[Fused]]) -> list[Fused]:
    """One ranking from per-model ones (whole, so the merged order does not depend on the caller's limit): a
    single one as it is; several by reciprocal rank (their scores are not comparable), one entry per chunk."""
    if len(results) == 1:
        return list(results[0])
    by_id = {f.chunk_id: f for fused in results for f in fused}
    ranked = rrf([[f.chunk_id for f in fused] for fused in results])
    return [Fused(c, s, by_id[c].dense_rank, by_id[c].lexical_rank) for c, s in ranked]
