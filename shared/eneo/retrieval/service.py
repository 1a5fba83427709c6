"""Hybrid retrieval: dense (per embedding model) + full-text, fused, always filtered by tenant and collections.

Callers pass collections the asker may read (eneo.knowledge.service.readable_group_ids); every statement
still filters by `tenant_id` and `group_id = ANY(...)` (and RLS binds the tenant besides).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from eneo.core.errors import NotFound
from eneo.embeddings import Embedder, EmbeddingModelLike
from eneo.model_providers.embedding_models import EmbeddingModel
from eneo.retrieval.fusion import Fused, fuse, rrf
from eneo.retrieval.lexical import lexical_search
from eneo.retrieval.vector import ModelRef, dense_search

DEPTH_MIN = 30  # each list is fetched at least this deep: fusion needs more than the final `limit`
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


async def _hydrate(session: AsyncSession, tenant_id: uuid.UUID, group_ids: Sequence[uuid.UUID],
                   fused: Sequence[Fused]) -> list[Hit]:
    """The chunks' text and their documents' titles, in fused order (filtered again, by tenant and group)."""
    if not fused:
        return []
    rows = (await session.execute(text(
        "SELECT c.id, c.info_blob_id, b.title, c.chunk_index, c.text, c.page, c.group_id "
        "FROM chunks c JOIN info_blobs b ON b.id = c.info_blob_id AND b.tenant_id = c.tenant_id "
        "WHERE c.id = ANY(:ids) AND c.tenant_id = :tenant_id AND c.group_id = ANY(:group_ids)"
    ), {"ids": [f.chunk_id for f in fused], "tenant_id": tenant_id, "group_ids": list(group_ids)})).all()
    by_id = {r[0]: r for r in rows}
    return [Hit(r[0], r[1], r[2], r[3], r[4], r[5], f.score, r[6])
            for f in fused if (r := by_id.get(f.chunk_id)) is not None]


async def search(session: AsyncSession, *, tenant_id: uuid.UUID, group_ids: Sequence[uuid.UUID], query_text: str,
                 query_vector: Sequence[float] | None, embedding_model: ModelRef, limit: int) -> list[Hit]:
    """The best `limit` chunks of these collections (all embedded with `embedding_model`) for the query.

    `query_vector` is the query embedded with that model; None searches full text only.
    """
    fused = await fused_ranking(session, tenant_id=tenant_id, group_ids=group_ids, query_text=query_text,
                                query_vector=query_vector, embedding_model=embedding_model, limit=limit)
    return await _hydrate(session, tenant_id, group_ids, fused)


async def fused_ranking(session: AsyncSession, *, tenant_id: uuid.UUID, group_ids: Sequence[uuid.UUID],
                        query_text: str, query_vector: Sequence[float] | None, embedding_model: ModelRef,
                        limit: int) -> list[Fused]:
    """`search` without the chunks' text: ids and scores."""
    group_ids = list(dict.fromkeys(group_ids))
    if not group_ids or limit <= 0:
        return []
    depth = max(limit * 2, DEPTH_MIN)
    dense = []
    if query_vector is not None:
        dense = (await dense_search(session, tenant_id=tenant_id, group_ids=group_ids, model=embedding_model,
                                    vector=query_vector, limit=depth)).hits
    lexical = await lexical_search(session, tenant_id=tenant_id, group_ids=group_ids, query=query_text,
                                   limit=depth)
    return fuse(dense, lexical, limit, weight=None if dense else 1.0)


def question_query(question: str, history: Sequence[str] = ()) -> str:
    """The question first, then the latest user turns (a follow-up's subject is often in them).

    Question first: embedders truncate at the end, so a long history loses its oldest words, never the
    question's.
    """
    recent = [h.strip() for h in history[-HISTORY_TURNS:] if h.strip()]
    return "\n".join([question.strip(), *reversed(recent)])[: len(question) + HISTORY_CHARS]


# The embedder of an embedding model (by id); default: model_embedder, from the model's row and provider.
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
    results: list[list[Hit]] = []
    for model, groups in per_model.items():
        # The model's row came with its groups: the default embedder reads only a provider's row, if any.
        embedder = await (embedder_for(model.id) if embedder_for else model_embedder(session, tenant_id, model))
        vector = (await embedder.embed([query]))[0]
        results.append(await search(session, tenant_id=tenant_id, group_ids=groups, query_text=query,
                                    query_vector=vector, embedding_model=model, limit=limit))
    return merge_hits(results, limit)


def merge_hits(results: Sequence[Sequence[Hit]], limit: int) -> list[Hit]:
    """One list from per-model lists: a single list as it is; several by reciprocal rank, one hit per chunk."""
    if len(results) == 1:
        return list(results[0][:limit])
    by_id = {h.chunk_id: h for hits in results for h in hits}
    ranked = rrf([[h.chunk_id for h in hits] for hits in results])
    return [_with_score(by_id[c], s) for c, s in ranked[:limit]]


def _with_score(hit: Hit, score: float) -> Hit:
    return Hit(hit.chunk_id, hit.info_blob_id, hit.title, hit.chunk_index, hit.text, hit.page, score, hit.group_id)


async def load_embedder(session: AsyncSession, tenant_id: uuid.UUID, model_id: uuid.UUID
                        ) -> tuple[EmbeddingModel, Embedder]:
    """A model row of the tenant and its embedder: the local one, or its provider's API (key decrypted).

    Raises NotFound for a model of another tenant, eneo.embeddings.EmbeddingError for one that cannot work.
    """
    model = await session.scalar(select(EmbeddingModel).where(EmbeddingModel.id == model_id,
                                                              EmbeddingModel.tenant_id == tenant_id))
    if model is None:
        raise NotFound("Embedding model")
    return model, await model_embedder(session, tenant_id, model)


async def model_embedder(session: AsyncSession, tenant_id: uuid.UUID, model: EmbeddingModelLike) -> Embedder:
    """The embedder of a model row already read: the local one, or its provider's API (key decrypted)."""
    from eneo.embeddings import embedder_for

    if model.provider_id is None:
        return embedder_for(model, None)
    from eneo.model_providers.models import ModelProvider
    from eneo.model_providers.service import provider_config

    provider = await session.scalar(select(ModelProvider).where(ModelProvider.id == model.provider_id,
                                                                ModelProvider.tenant_id == tenant_id))
    return embedder_for(model, provider_config(provider) if provider is not None else None)
