"""Embed one batch of a blob's chunks and write the vectors; the blob is `ready` when all have one.

Idempotent under redelivery: only chunks without a vector of the message's model are embedded, and
`chunks_embedded` is recounted from the chunks, never incremented. A message whose model is no
longer the collection's is skipped: changing the model sends messages for the new one, and vectors
of two models never mix in one collection. Chunks are embedded as documents, in the form the collection
records (`groups.document_purpose`: `query` for e5 collections from before migration 0027), and written only
if the collection still records it, so a re-embedding that started meanwhile is not undone.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, or_, select, update

from eneo.core.db import UnitOfWork
from eneo.core.errors import AppError
from eneo.core.health import unavailable
from eneo.core.ids import utcnow
from eneo.core.queue_messages import EmbedRequest
from eneo.core.settings import Settings, get_settings
from eneo.embeddings import Embedder, EmbeddingError, Purpose
from eneo.ingestion.status import DocumentFailure, fail_blob, fail_exhausted
from eneo.knowledge.models import Chunk, Group, InfoBlob, InfoBlobStatus
from eneo.knowledge.status_events import publish_status
from eneo.model_providers.clients import model_embedder  # the provider's key decrypted, as search does
from eneo.model_providers.models import EmbeddingModel
from eneo.model_providers.personal_data import tenant_protects

log = logging.getLogger("eneo.ingestion")

EMBEDDABLE = (InfoBlobStatus.processing, InfoBlobStatus.embedding)


@dataclass(frozen=True)
class EmbedWork:
    model: EmbeddingModel
    embedder: Embedder | None  # None when there is nothing left to embed
    chunk_ids: list[uuid.UUID]
    texts: list[str]
    purpose: Purpose = "document"  # the collection's document_purpose


async def embed(request: EmbedRequest, *, receive_count: int = 1, settings: Settings | None = None) -> None:
    """Embed the request's chunks (see the module docstring); raises only what a retry may fix."""
    settings = settings or get_settings()
    try:
        try:
            await _embed(request)
        except DocumentFailure as exc:
            await fail_blob(request.tenant_id, request.blob_id, exc.code, exc.message)
    except Exception as exc:
        # A dependency outage is not the document's fault: its message is retried, then kept (dead-letter queue).
        if receive_count >= settings.ingest_max_attempts and unavailable(exc) is None:
            await fail_exhausted(request.tenant_id, request.blob_id, "Embedding the document", exc, receive_count)
        raise


async def _embed(request: EmbedRequest) -> None:
    """Load, embed, write, recount; the time of each step is logged (bench/ingestion.py sums them)."""
    marks = [time.perf_counter()]
    work = await _load(request)
    if work is None:
        return
    marks.append(time.perf_counter())
    vectors: list[list[float]] = []
    if work.embedder is not None:
        vectors = await _vectors(work, work.embedder)
        marks.append(time.perf_counter())
        await _write(request, work, vectors)
    else:
        marks.append(marks[-1])
    marks.append(time.perf_counter())
    await _progress(request)
    marks.append(time.perf_counter())
    steps = ("load_ms", "vectors_ms", "write_ms", "progress_ms")
    log.info("embed message done", extra={"blob_id": str(request.blob_id), "chunks": len(vectors)} | {
        step: round((end - start) * 1000, 1) for step, start, end in zip(steps, marks[:-1], marks[1:], strict=True)})


async def _load(request: EmbedRequest) -> EmbedWork | None:
    """The model and the chunks still to embed; None if the message no longer applies."""
    async with UnitOfWork(request.tenant_id) as uow:
        s = uow.session
        row = (await s.execute(
            select(InfoBlob.status, Group.embedding_model_id, Group.document_purpose)
            .join(Group, Group.id == InfoBlob.group_id)
            .where(InfoBlob.id == request.blob_id, InfoBlob.tenant_id == request.tenant_id))).first()
        if row is None or row.status not in EMBEDDABLE:
            log.info("embed message skipped: blob gone or not in flight", extra={"blob_id": str(request.blob_id)})
            return None
        if row.embedding_model_id != request.embedding_model_id:
            log.info("embed message skipped: the collection's model changed", extra={"blob_id": str(request.blob_id)})
            return None
        model = await s.get(EmbeddingModel, request.embedding_model_id)
        if model is None:
            return None
        chunks = (await s.execute(
            select(Chunk.id, Chunk.text).where(
                Chunk.id.in_(request.chunk_ids), Chunk.info_blob_id == request.blob_id,
                or_(Chunk.embedding.is_(None), Chunk.embedding_model_id.is_distinct_from(model.id)))
            .order_by(Chunk.chunk_index))).all()
        if not chunks:
            return EmbedWork(model, None, [], [], _purpose(row.document_purpose))
        try:
            # An external model gets the chunks masked when the organisation protects personal data; the
            # stored text stays whole (eneo.model_providers.personal_data).
            protects = model.provider_id is not None and await tenant_protects(s, request.tenant_id)
            embedder = await model_embedder(s, request.tenant_id, model, mask=protects)
        except (AppError, EmbeddingError) as exc:  # the key no longer decrypts; no provider; a misnamed local row
            raise DocumentFailure("embedding_failed", exc.message) from None
    return EmbedWork(model, embedder, [c.id for c in chunks], [c.text for c in chunks],
                     _purpose(row.document_purpose))


def _purpose(value: str) -> Purpose:
    return "query" if value == "query" else "document"


async def _vectors(work: EmbedWork, embedder: Embedder) -> list[list[float]]:
    vectors: list[list[float]] = []
    try:
        step = max(int(embedder.max_batch), 1)
        for i in range(0, len(work.texts), step):
            vectors.extend(await embedder.embed(work.texts[i:i + step], purpose=work.purpose))
    except EmbeddingError as exc:
        if exc.retryable:
            raise
        raise DocumentFailure("embedding_failed", exc.message) from None
    if len(vectors) != len(work.texts) or any(len(v) != work.model.dimensions for v in vectors):
        raise DocumentFailure("embedding_failed", f"The embedding model returned vectors that do not match its "
                                                  f"configured {work.model.dimensions} dimensions")
    return vectors


async def _write(request: EmbedRequest, work: EmbedWork, vectors: list[list[float]]) -> None:
    """Store the vectors by chunk id. Chunks removed meanwhile (the document was retried or re-uploaded,
    eneo.knowledge.service.retries) are skipped, not an error: the WHERE clause turns off the ORM's rowcount
    check, which would raise and have this message retried for nothing. Nor are chunks of a collection whose
    document_purpose changed since `_load` (a re-embedding cleared them and queued them again)."""
    same_form = select(Group.id).where(Group.id == Chunk.group_id, Group.document_purpose == work.purpose).exists()
    async with UnitOfWork(request.tenant_id) as uow:
        await uow.session.execute(update(Chunk).where(Chunk.info_blob_id == request.blob_id, same_form)
                                  .execution_options(synchronize_session=None), [
            {"id": cid, "embedding": _floats(v), "embedding_model_id": work.model.id}
            for cid, v in zip(work.chunk_ids, vectors, strict=True)])
    log.info("chunks embedded", extra={"blob_id": str(request.blob_id), "chunks": len(vectors)})


async def _progress(request: EmbedRequest) -> None:
    """Recount the blob's vectors; `ready` when every chunk has one of the collection's model."""
    model_id = request.embedding_model_id
    counted = (select(func.count()).where(Chunk.info_blob_id == request.blob_id, Chunk.embedding_model_id == model_id,
                                          Chunk.embedding.is_not(None)).scalar_subquery())
    complete = counted >= InfoBlob.chunks_total
    still_the_model = select(Group.id).where(Group.id == InfoBlob.group_id,
                                             Group.embedding_model_id == model_id).exists()
    async with UnitOfWork(request.tenant_id) as uow:
        blob = (await uow.session.execute(
            update(InfoBlob).where(InfoBlob.id == request.blob_id, InfoBlob.status.in_(EMBEDDABLE),
                                   InfoBlob.chunks_total > 0, still_the_model)
            .values(chunks_embedded=counted,
                    status=case((complete, InfoBlobStatus.ready), else_=InfoBlob.status),
                    processed_at=case((complete, utcnow()), else_=InfoBlob.processed_at),
                    embedding_model_id=case((complete, model_id), else_=InfoBlob.embedding_model_id),
                    updated_at=utcnow())
            .returning(InfoBlob))).scalar_one_or_none()
    if blob is not None:
        if blob.status == InfoBlobStatus.ready:
            log.info("blob ready", extra={"blob_id": str(blob.id), "chunks": blob.chunks_total})
        await publish_status(blob)


def _floats(vector: Any) -> list[float]:
    return [float(x) for x in vector]
