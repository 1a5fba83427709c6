"""Dense search over one embedding model's chunks, filtered by tenant and collections.

Each model has a partial HNSW index on `embedding::vector(<dims>)` WHERE `embedding_model_id = '<id>'`
(migration 0004); the planner only uses it when the query repeats that expression and that predicate with
the id as a literal, so both are written into the SQL (from a UUID and an int: nothing to inject), as are
the tenant and collection ids (eneo.retrieval.sql).

An HNSW scan visits `hnsw.ef_search` candidates and *then* applies the tenant/collection filter, so with
pgvector < 0.8 (no iterative scans) a selective filter returns fewer than k rows, or none. Hence:

* estimate the filtered rows first (from the documents' chunk counts: counting chunks costs as much as
  an exact scan);
* few rows: exact scan of exactly those rows, ordered by `embedding <=> q` (not the indexed expression,
  so the planner cannot pick the HNSW index);
* many rows: HNSW at the largest `ef_search` (1000), and the exact scan if fewer than k rows survive
  anyway (or if the filter's share of the index is so small that 1000 candidates cannot hold 2k of its
  rows);
* pgvector >= 0.8: `hnsw.iterative_scan = relaxed_order` keeps scanning until k rows pass the filter,
  also from 1000 candidates.

Why the largest ef_search: search fetches every list 100 deep (eneo.retrieval.service.DEPTH), and an
HNSW scan of ~200 candidates (what the filter needed, as it was) missed 3-5 % of the exact top 100 and
changed the top 10 of 5-8 % of squad-en's questions, in a collection of 20k chunks with near neighbours;
at 1000 it misses 0.2 %, for 4 -> 9 ms p50 (the exact scan of those rows: 20 ms): bench/dense_exactness.py.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from eneo.retrieval.sql import server_fact, uuid_array, uuid_literal

# Below this many candidate rows the exact scan is about as fast as the HNSW path (bench/search.py, 384
# dims, 2 busy cores: exact ~1.2 us a row, 12 ms at 10k; HNSW 5-7 ms at any size, ~9 ms at ef_search 1000 at
# 20k rows: bench/dense_exactness.py).
EXACT_THRESHOLD = 5_000
EF_SEARCH_MAX = 1000  # pgvector's upper bound for hnsw.ef_search
HNSW_MAX_DIMS = 2000  # ensure_embedding_index creates no index above this: such models are always exact

Strategy = Literal["exact", "hnsw", "hnsw_then_exact", "iterative"]


class ModelRef(Protocol):
    """What the search needs of an embedding model (eneo.model_providers.models.EmbeddingModel)."""

    @property
    def id(self) -> uuid.UUID: ...

    @property
    def dimensions(self) -> int: ...


@dataclass(frozen=True)
class Scored:
    chunk_id: uuid.UUID
    score: float  # cosine similarity
    document_id: uuid.UUID | None = None  # the chunk's info blob: the fusion's confidence is between documents


@dataclass
class DenseResult:
    hits: list[Scored]
    strategy: Strategy
    candidates: float  # the estimate of the filtered rows


async def pgvector_version(session: AsyncSession) -> tuple[int, ...]:
    """The server's pgvector version, asked once per database (it only changes with an upgrade)."""
    version = await server_fact(session, "SELECT extversion FROM pg_extension WHERE extname = 'vector'")
    return tuple(int(p) for p in str(version or "0").split(".") if p.isdigit())


def vector_literal(vector: Sequence[float]) -> str:
    """pgvector's text form; sent as a parameter and cast in SQL (no adapter registration needed)."""
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def _dims(model: ModelRef) -> int:
    dims = int(model.dimensions)
    if not 1 <= dims <= 16000:
        raise ValueError(f"bad dimensions {dims}")
    return dims


def _filter_sql(tenant_id: uuid.UUID, group_ids: Sequence[uuid.UUID], model: ModelRef) -> str:
    """The filter, with literals (eneo.retrieval.sql says why); the model's predicate as its index has it."""
    return (f"c.embedding_model_id = {uuid_literal(model.id)} AND c.tenant_id = {uuid_literal(tenant_id)} "
            f"AND c.group_id = ANY({uuid_array(group_ids)}) AND c.embedding IS NOT NULL")


async def estimate_candidates(session: AsyncSession, *, tenant_id: uuid.UUID, group_ids: Sequence[uuid.UUID],
                              model: ModelRef) -> tuple[float, float]:
    """About how many chunks the filter leaves, and how many the model's index holds.

    From the documents' `chunks_total` (documents whose vectors are all of this model): one row per
    document, not per chunk. Counting the chunks is a heap read of every filtered row (RLS's tenant check
    rules out an index-only scan), 20-30 ms at 20k rows, more than the search it decides about; and the
    planner's estimate multiplies tenant, collection and model as if independent (they are not: a
    collection has one tenant and one model), 2,000 chunks of a small tenant came out as 1 row. A wrong
    figure costs time, never rows: HNSW's short answer falls back to the exact scan.
    """
    row = (await session.execute(text(
        "SELECT coalesce(sum(b.chunks_total) FILTER (WHERE b.group_id = ANY(:group_ids)), 0), "
        "coalesce(sum(b.chunks_total), 0) FROM info_blobs b WHERE b.tenant_id = :tenant_id "
        "AND b.embedding_model_id = :model_id"
    ), {"tenant_id": tenant_id, "group_ids": list(group_ids), "model_id": model.id})).one()
    return float(row[0]), float(row[1])


async def exact_search(session: AsyncSession, *, tenant_id: uuid.UUID, group_ids: Sequence[uuid.UUID],
                       model: ModelRef, vector: Sequence[float], limit: int) -> list[Scored]:
    """Every filtered row's distance, sorted: exact, and fast when the filter leaves few rows."""
    _dims(model)
    # `embedding <=> q` is not the indexed expression `embedding::vector(dims) <=> q`: no HNSW here.
    rows = (await session.execute(text(
        "SELECT c.id, c.embedding <=> CAST(:q AS vector) AS distance, c.info_blob_id FROM chunks c "  # noqa: S608
        f"WHERE {_filter_sql(tenant_id, group_ids, model)} ORDER BY distance, c.id LIMIT {int(limit)}"
    ), {"q": vector_literal(vector)})).all()
    return [Scored(r[0], 1.0 - float(r[1]), r[2]) for r in rows]


async def hnsw_search(session: AsyncSession, *, tenant_id: uuid.UUID, group_ids: Sequence[uuid.UUID],
                      model: ModelRef, vector: Sequence[float], limit: int, ef_search: int,
                      iterative: bool = False) -> list[Scored]:
    """The model's HNSW index, filtered; may return fewer than `limit` rows unless `iterative`."""
    dims = _dims(model)
    settings = [f"SET LOCAL hnsw.ef_search = {int(ef_search)}"]
    if iterative:
        settings.append("SET LOCAL hnsw.iterative_scan = relaxed_order")
    for statement in settings:
        await session.execute(text(statement))
    try:
        # relaxed_order may return rows slightly out of order: sort the few rows again.
        rows = (await session.execute(text(
            f"WITH found AS MATERIALIZED (SELECT c.id, c.embedding::vector({dims}) <=> CAST(:q AS vector({dims})) "  # noqa: S608
            f"AS distance, c.info_blob_id FROM chunks c WHERE {_filter_sql(tenant_id, group_ids, model)} "
            f"ORDER BY c.embedding::vector({dims}) <=> CAST(:q AS vector({dims})) LIMIT {int(limit)}) "
            "SELECT id, distance, info_blob_id FROM found ORDER BY distance, id"
        ), {"q": vector_literal(vector)})).all()
    finally:
        # Back to the defaults for the rest of the transaction.
        await session.execute(text("SET LOCAL hnsw.ef_search TO DEFAULT"))
        if iterative:
            await session.execute(text("SET LOCAL hnsw.iterative_scan TO DEFAULT"))
    return [Scored(r[0], 1.0 - float(r[1]), r[2]) for r in rows]


def plan_ef_search(limit: int, candidates: float, index_rows: float) -> int | None:
    """ef_search for a filtered HNSW scan: the maximum, or None if even that would not leave ~2x `limit`
    rows (the scan's candidates pass the filter at about the filter's share of the index).

    The maximum, not just what the filter needs: fewer candidates leave `limit` rows but not the nearest
    ones (the module docstring's figures).
    """
    share = min(1.0, candidates / index_rows) if index_rows > 0 else 1.0
    if math.ceil(2 * limit / share) > EF_SEARCH_MAX:
        return None
    return EF_SEARCH_MAX


async def dense_search(session: AsyncSession, *, tenant_id: uuid.UUID, group_ids: Sequence[uuid.UUID],
                       model: ModelRef, vector: Sequence[float], limit: int,
                       exact_threshold: int = EXACT_THRESHOLD) -> DenseResult:
    """The `limit` nearest chunks of these collections for this model: k rows whenever k exist."""
    if not group_ids or limit <= 0:
        return DenseResult([], "exact", 0)
    if len(vector) != model.dimensions:
        raise ValueError(f"query vector has {len(vector)} dimensions, the model {model.dimensions}")
    candidates, index_rows = await estimate_candidates(session, tenant_id=tenant_id, group_ids=group_ids,
                                                       model=model)

    async def exact() -> list[Scored]:
        return await exact_search(session, tenant_id=tenant_id, group_ids=group_ids, model=model, vector=vector,
                                  limit=limit)

    async def hnsw(ef_search: int, iterative: bool = False) -> list[Scored]:
        return await hnsw_search(session, tenant_id=tenant_id, group_ids=group_ids, model=model, vector=vector,
                                 limit=limit, ef_search=ef_search, iterative=iterative)

    if candidates <= exact_threshold or model.dimensions > HNSW_MAX_DIMS:
        return DenseResult(await exact(), "exact", candidates)
    if await pgvector_version(session) >= (0, 8):
        hits = await hnsw(EF_SEARCH_MAX, iterative=True)
        if len(hits) >= limit:  # short only if the scan hit hnsw.max_scan_tuples first
            return DenseResult(hits, "iterative", candidates)
        return DenseResult(await exact(), "hnsw_then_exact", candidates)
    ef_search = plan_ef_search(limit, candidates, index_rows)
    if ef_search is not None:
        hits = await hnsw(ef_search)
        if len(hits) >= limit:
            return DenseResult(hits, "hnsw", candidates)
    return DenseResult(await exact(), "hnsw_then_exact", candidates)
