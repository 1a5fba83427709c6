"""Ingest one document: claim its blob, read and check the object, extract text, store chunks, queue
the embedding work.

Idempotence and retries (why the steps are in this order):
* The claim (`uploading` or `queued` -> `processing`, attempts+1) is one conditional UPDATE: a second delivery of the
  same S3 event finds the blob past `uploading` and does nothing. A *redelivery* (receive count > 1,
  i.e. an earlier attempt raised) may take over a blob left in `processing`, or it would stay there.
  A retry message (`POST .../retry/`, which first puts the blob back to `uploading`) is claimed the
  same way.
* Each claim is a generation: `attempts` after it (never reset, a retry included). Every later write of
  the run is conditional on `processing` *and* that generation, so a run that was superseded while it
  worked (a user's retry, a re-upload of a stuck document, the sweep, a redelivery taking over) finds
  the blob no longer its own at its next step and stops without writing: two runs never interleave
  their chunks or statuses, and the newest one finishes the document.
* No database connection is held while the object is read, extracted or transcribed.
* The content hash is recorded before extraction: a concurrent upload of the same bytes to the same
  collection then fails at once as `duplicate_content` (the partial unique index decides a race).
* Chunks are upserted on (info_blob_id, chunk_index), so a redelivery never duplicates them; the
  blob turns `embedding` only after the embed messages were sent, so a failure to send is retried.
* The collection's embedding model is read again, FOR SHARE on its row, in the transaction that
  stores the chunks: a model change during extraction (which found no chunks of this blob to
  re-queue) then either waits for the chunks and re-queues them, or is what the embed messages and
  the chunk length follow. Work for the model read at the claim would be skipped by embed, leaving
  the blob `embedding` for good.
* The size is checked against the detected type's limit: a presigned POST's policy holds uploads to
  it on AWS, but not every S3-compatible store enforces it (moto does not).
* Document problems (DocumentFailure, ExtractionError) fail the blob and the message succeeds; any
  other error is raised (the record is retried) and, on the last delivery, first fails the blob as
  `retries_exhausted`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, cast, delete, func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import REGCONFIG, insert
from sqlalchemy.exc import IntegrityError

from eneo.classifications.knowledge import (
    TRANSCRIPTION_CODE,
    EmbeddingClassificationTooLow,
    check_group_embedding,
    transcription_refusal,
)
from eneo.core import storage
from eneo.core.db import UnitOfWork
from eneo.core.errors import AppError
from eneo.core.health import unavailable
from eneo.core.ids import new_id, utcnow
from eneo.core.queue_messages import IngestRequest, ObjectCreated, embed_messages
from eneo.core.settings import Settings, get_settings
from eneo.core.text import human_size, storable_text
from eneo.embeddings import EmbeddingError, transcribe
from eneo.ingestion.status import DocumentFailure, fail_blob, fail_exhausted
from eneo.knowledge.chunking import ChunkText, chunk
from eneo.knowledge.extract import (
    ACCEPTED_TYPES,
    DocumentType,
    Extracted,
    ExtractionError,
    ExtractLimits,
    Section,
    detect,
    extract,
    is_audio,
)
from eneo.knowledge.language import document_language, ts_config
from eneo.knowledge.models import Chunk, Group, InfoBlob, InfoBlobStatus
from eneo.knowledge.status_events import publish_status
from eneo.model_providers.clients import transcription_target_of
from eneo.model_providers.models import EmbeddingModel
from eneo.model_providers.transcription_service import AudioNotSent, audio_model_for
from eneo.permissions.model_access import ModelNotAllowed, may_use

log = logging.getLogger("eneo.ingestion")

MODEL_CHANGES = 3  # re-chunkings for models changed mid-way before the message is retried instead
DEADLINE_MARGIN = 10.0  # seconds kept after extraction to store chunks and send messages
EXTRACT_GRACE = 2.0  # the extractors stop themselves at the timeout; this is for one last slow part


@dataclass(frozen=True)
class Claimed:
    """What ingesting one blob needs, read in the claiming transaction."""

    tenant_id: uuid.UUID
    blob_id: uuid.UUID
    group_id: uuid.UUID
    object_key: str
    filename: str
    declared_type: str
    embedding_model_id: uuid.UUID  # the collection's model: read at the claim, again when the chunks are stored
    max_input_tokens: int  # of that model: no chunk may be longer
    attempt: int  # the blob's `attempts` after this claim: its generation (see the module docstring)
    uploaded_by: uuid.UUID | None = None  # whose behalf audio is transcribed on (None: an erased user)


def _mine(c: Claimed) -> tuple[Any, ...]:
    """The blob as this run claimed it: still `processing`, and not claimed again since."""
    return (InfoBlob.id == c.blob_id, InfoBlob.tenant_id == c.tenant_id, InfoBlob.status == InfoBlobStatus.processing,
            InfoBlob.attempts == c.attempt)


class Superseded(Exception):
    """The blob was claimed again (or taken back) while this run worked on it: the newer run finishes it."""


class ModelChanged(Exception):
    """The collection moved to a model that reads fewer tokens while the document was extracted: chunk again."""

    def __init__(self, model_id: uuid.UUID, max_input_tokens: int) -> None:
        super().__init__("the collection's embedding model changed")
        self.model_id, self.max_input_tokens = model_id, max_input_tokens


async def ingest(request: IngestRequest, *, receive_count: int = 1, deadline: float | None = None,
                 settings: Settings | None = None) -> None:
    """Ingest the blob `request` names (see the module docstring); raises only what a retry may fix."""
    settings = settings or get_settings()
    try:
        await _ingest(request, receive_count, deadline, settings)
    except Exception as exc:
        # A dependency outage is not the document's fault: its message is retried, then kept (dead-letter queue).
        if receive_count >= settings.ingest_max_attempts and unavailable(exc) is None:
            await fail_exhausted(request.tenant_id, request.blob_id, "Reading the document", exc, receive_count)
        raise


async def _ingest(request: IngestRequest, receive_count: int, deadline: float | None, settings: Settings) -> None:
    if isinstance(request, ObjectCreated) and settings.documents_bucket and request.bucket \
            and request.bucket != settings.documents_bucket:
        log.warning("object of another bucket ignored", extra={"blob_id": str(request.blob_id)})
        return
    claimed = await _claim(request, redelivery=receive_count > 1)
    if claimed is None:
        return
    try:
        await _process(claimed, deadline, settings)
    except (DocumentFailure, ExtractionError) as exc:
        await fail_blob(claimed.tenant_id, claimed.blob_id, exc.code, exc.message, attempt=claimed.attempt)
    except Superseded:
        log.info("blob superseded; this run stops", extra={"blob_id": str(claimed.blob_id),
                                                           "attempt": claimed.attempt})


async def _claim(request: IngestRequest, *, redelivery: bool) -> Claimed | None:
    """Move the blob to `processing`; None if it is not ours to process (see the module docstring)."""
    claimable: list[ColumnElement[bool]] = [InfoBlob.status.in_((InfoBlobStatus.uploading, InfoBlobStatus.queued))]
    if redelivery:
        claimable.append(InfoBlob.status == InfoBlobStatus.processing)
    conditions = [InfoBlob.id == request.blob_id, InfoBlob.tenant_id == request.tenant_id, or_(*claimable)]
    if isinstance(request, ObjectCreated):
        conditions.append(InfoBlob.object_key == request.key)
    async with UnitOfWork(request.tenant_id) as uow:
        blob = (await uow.session.execute(
            update(InfoBlob).where(*conditions)
            .values(status=InfoBlobStatus.processing, attempts=InfoBlob.attempts + 1, error_code=None,
                    error_message=None, updated_at=utcnow())
            .returning(InfoBlob))).scalar_one_or_none()
        model = None if blob is None else (await uow.session.execute(
            select(EmbeddingModel.id, EmbeddingModel.max_input_tokens)
            .join(Group, Group.embedding_model_id == EmbeddingModel.id).where(Group.id == blob.group_id))).first()
    if blob is None or model is None:
        log.info("blob not claimed (already processed, in progress or deleted)",
                 extra={"blob_id": str(request.blob_id), "kind": type(request).__name__})
        return None
    log.info("blob claimed", extra={"blob_id": str(blob.id), "attempt": blob.attempts})
    await publish_status(blob)
    return Claimed(blob.tenant_id, blob.id, blob.group_id, blob.object_key, blob.filename, blob.declared_type,
                   model.id, model.max_input_tokens, blob.attempts, blob.uploaded_by)


async def _check_levels(c: Claimed) -> None:
    """No byte of a document goes to an embedding model classified below its space (eneo.classifications)."""
    async with UnitOfWork(c.tenant_id) as uow:
        try:
            await check_group_embedding(uow.session, c.tenant_id, [c.group_id])
        except EmbeddingClassificationTooLow as exc:
            raise DocumentFailure(exc.code, exc.message) from None


async def _process(c: Claimed, deadline: float | None, settings: Settings) -> None:
    await _check_levels(c)
    data = await _read_object(c, settings)
    doc_type = detect(data, c.filename, c.declared_type or None)
    audio = is_audio(doc_type)
    limit = doc_type.accepted.max_bytes(settings)
    if len(data) > limit:
        label = doc_type.accepted.label
        raise DocumentFailure("too_large", f"{label[:1].upper() + label[1:]} files may be at most {human_size(limit)}; "
                                           f"this one is {human_size(len(data))}")
    await _record_content(c, hashlib.sha256(data).hexdigest(), doc_type.media_type, len(data), settings)
    title: str | None = None
    ocr_pages: tuple[int, ...] = ()
    stated: str | None = None  # the language the file states
    if audio:
        sections, pages = [Section(text=await _transcribe(c, data), page=None)], 0
    else:
        extracted = await _extract(data, doc_type, deadline, settings)
        sections, pages, title, ocr_pages = extracted.sections, extracted.pages, extracted.title, extracted.ocr_pages
        stated = extracted.language
    for _ in range(MODEL_CHANGES):
        size = _chunk_size(settings, c.max_input_tokens)
        pieces = chunk(sections, size, min(settings.chunk_overlap_tokens, size // 4))
        if not pieces:
            raise DocumentFailure("empty", "The document contains no text to search")
        try:
            stored = await _store_chunks(c, pieces, pages, settings, title, ocr_pages,
                                         document_language("\n".join(s.text for s in sections), stated))
        except ModelChanged as changed:
            c = replace(c, embedding_model_id=changed.model_id, max_input_tokens=changed.max_input_tokens)
            continue
        if stored is None:
            return
        c, pending = stored
        await _send_embed_work(c, pending, settings)
        await _mark_embedding(c)
        return
    raise RuntimeError("the collection's embedding model kept changing while the chunks were stored")


def _chunk_size(settings: Settings, max_input_tokens: int) -> int:
    return min(settings.chunk_size_tokens, max_input_tokens - 2)  # the model adds [CLS] and [SEP]


async def _read_object(c: Claimed, settings: Settings) -> bytes:
    """The object's bytes, after its size was checked against the largest limit of any type (HEAD first: an
    oversized object is never read); the type's own limit is checked once the type is known. Storage
    errors other than "no such object" are raised (5xx, throttling, access: worth a retry)."""
    largest = max(a.max_bytes(settings) for a in ACCEPTED_TYPES)
    size = await asyncio.to_thread(storage.object_size, c.object_key, settings=settings)
    if size is not None and size > largest:
        raise DocumentFailure("too_large", f"Files may be at most {human_size(largest)}; "
                                           f"this one is {human_size(size)}")
    data = None if size is None else await asyncio.to_thread(storage.read_object, c.object_key, largest + 1,
                                                             settings=settings)
    if data is None:
        raise DocumentFailure("object_missing", "The uploaded file is not in storage (the upload did not "
                                                "finish, or it was removed); upload it again")
    if len(data) > largest:  # it grew between HEAD and GET
        raise DocumentFailure("too_large", f"Files may be at most {human_size(largest)}")
    return data


async def _record_content(c: Claimed, content_hash: str, content_type: str, size: int, settings: Settings) -> None:
    """Record what the bytes are; DocumentFailure(duplicate_content) if the collection has them already,
    Superseded if the blob is no longer this run's (it stops before the long extraction)."""
    try:
        async with UnitOfWork(c.tenant_id) as uow:
            other = await _same_content(uow, c, content_hash)
            if other is None and (await uow.session.execute(
                    update(InfoBlob).where(*_mine(c))
                    .values(content_hash=content_hash, content_type=content_type, size_bytes=size,
                            updated_at=utcnow()).returning(InfoBlob.id))).scalar_one_or_none() is None:
                raise Superseded
    except IntegrityError:  # a concurrent upload of the same bytes recorded its hash first
        async with UnitOfWork(c.tenant_id) as uow:
            other = await _same_content(uow, c, content_hash)
    if other is not None:
        # logged, not raised, if it fails
        await asyncio.to_thread(storage.delete_object, c.object_key, settings=settings)
        raise DocumentFailure("duplicate_content", f"The same file is already in this collection as "
                                                   f"\u201c{other[:300]}\u201d")


async def _same_content(uow: UnitOfWork, c: Claimed, content_hash: str) -> str | None:
    """The title of another live blob of the collection with these bytes."""
    return await uow.session.scalar(select(InfoBlob.title).where(
        InfoBlob.tenant_id == c.tenant_id, InfoBlob.group_id == c.group_id, InfoBlob.content_hash == content_hash,
        InfoBlob.id != c.blob_id, InfoBlob.status != InfoBlobStatus.failed).limit(1))


# Transcription models are their own concept (eneo.model_providers.transcription_service): a speech-to-text
# model registered as a completion model would be offered to assistants.
NO_MODEL_MESSAGE = ("Audio needs a transcription model: an administrator adds one (e.g. whisper-1 at an OpenAI, "
                    "Azure or OpenAI-compatible provider) with POST /api/v1/transcription-models/, then retries")


UPLOADER_NOT_ALLOWED = ("The transcription model {name!r} is limited to user groups the uploader is not a member of "
                        "(the limit changed after the upload): an administrator adds the uploader to one of its "
                        "groups or opens the model (allowed_group_ids), then retries the document")


async def _uploader_may_use(uow: UnitOfWork, c: Claimed, allowed_group_ids: list[uuid.UUID] | None) -> bool:
    """The audio is transcribed on its uploader's behalf: only by a model they may use (checked at the upload
    too; this catches a limit changed while the document waited). An erased uploader uses no limited model."""
    if not allowed_group_ids:
        return True
    return c.uploaded_by is not None and await may_use(uow, c.uploaded_by, allowed_group_ids)


async def _transcribe(c: Claimed, data: bytes) -> str:
    async with UnitOfWork(c.tenant_id) as uow:
        try:
            found = await audio_model_for(uow.session, c.tenant_id)
        except AudioNotSent as exc:  # personal data protected and no local model: the audio is not sent
            raise DocumentFailure(exc.code, exc.message) from None
        if found is None:
            raise DocumentFailure("no_transcription_model", NO_MODEL_MESSAGE)
        model, provider = found
        refusal = await transcription_refusal(uow.session, c.tenant_id, c.group_id, model)
        if refusal is not None:  # the space is classified above the model: the audio is not sent
            raise DocumentFailure(TRANSCRIPTION_CODE, refusal)
        if not await _uploader_may_use(uow, c, model.allowed_group_ids):
            raise DocumentFailure(ModelNotAllowed.code, UPLOADER_NOT_ALLOWED.format(name=model.name))
        try:
            target = transcription_target_of(model, provider)
        except AppError as exc:  # the provider's key no longer decrypts
            raise DocumentFailure("transcription_failed", exc.message) from None
    try:
        text = await transcribe(target.config, target.model, data, c.filename)
    except EmbeddingError as exc:  # TranscriptionError included
        if exc.retryable:
            raise
        raise DocumentFailure("transcription_failed", exc.message) from None
    if not text.strip():
        raise DocumentFailure("empty", "The transcription of this audio file is empty (no speech?)")
    return text


class DeadlineReached(Exception):
    """The function's own time ran out before the document's: not the document's fault, so retried."""


async def _extract(data: bytes, doc_type: DocumentType, deadline: float | None, settings: Settings) -> Extracted:
    """Extract in a worker thread, bounded by the extraction timeout and the function's own deadline.

    The extractors check the same timeout between parts (a thread cannot be stopped from outside), so
    the thread ends about when we stop waiting for it. Running out of the *function's* time is not the
    document's fault: that is DeadlineReached, retried."""
    timeout = settings.extract_timeout_seconds
    cut_by_deadline = False
    if deadline is not None and deadline - time.monotonic() - DEADLINE_MARGIN < timeout:
        timeout, cut_by_deadline = max(deadline - time.monotonic() - DEADLINE_MARGIN, 1.0), True
    limits = replace(ExtractLimits.from_settings(settings), timeout_seconds=timeout)
    try:
        return await asyncio.wait_for(asyncio.to_thread(extract, data, doc_type, limits), timeout + EXTRACT_GRACE)
    except (TimeoutError, ExtractionError) as exc:
        if isinstance(exc, ExtractionError) and exc.code != "extract_timeout":
            raise
        if cut_by_deadline:
            raise DeadlineReached("the function's time ran out during extraction") from None
        raise DocumentFailure("extract_timeout", f"Reading the document took longer than {timeout:.0f} s; "
                                                 "split it into smaller files") from None


async def _store_chunks(c: Claimed, pieces: list[ChunkText], pages: int, settings: Settings,
                        title: str | None = None, ocr_pages: tuple[int, ...] = (), language: str | None = None
                        ) -> tuple[Claimed, list[uuid.UUID]] | None:
    """Upsert the chunks and the blob's counts. Returns the claim with the collection's model as of this
    transaction and the ids still without a vector of that model; None if the blob (or its collection) is
    no longer ours. ModelChanged if that model reads fewer tokens than the chunks were cut for.

    `title`, the document's own (a `# heading`, a PDF or DOCX title), replaces the default title, the file
    name, so citations name the document rather than `D33.md`; a title someone gave it (at upload, or by
    renaming it) stays. `language`, the detected one, is recorded unless the blob has one (given at upload);
    the chunks are indexed in the configuration of the blob's language."""
    rows = [{"id": new_id(), "tenant_id": c.tenant_id, "group_id": c.group_id, "info_blob_id": c.blob_id,
             "chunk_index": p.index, "text": storable_text(p.text), "token_count": p.token_count,
             "page": p.page, "created_at": utcnow()} for p in pieces]
    async with UnitOfWork(c.tenant_id) as uow:
        s = uow.session
        # The group's row first (FOR SHARE: a model change waits for this commit, then finds these chunks).
        model = (await s.execute(
            select(EmbeddingModel.id, EmbeddingModel.max_input_tokens)
            .join(Group, Group.embedding_model_id == EmbeddingModel.id)
            .where(Group.id == c.group_id, Group.tenant_id == c.tenant_id)
            .with_for_update(read=True, of=Group))).first()
        if model is None:
            return None
        if model.id != c.embedding_model_id:
            log.info("the collection's embedding model changed during ingestion", extra={"blob_id": str(c.blob_id)})
            if _chunk_size(settings, model.max_input_tokens) < _chunk_size(settings, c.max_input_tokens):
                raise ModelChanged(model.id, model.max_input_tokens)
            c = replace(c, embedding_model_id=model.id, max_input_tokens=model.max_input_tokens)
        blob = (await s.execute(
            update(InfoBlob).where(*_mine(c))
            .values(chunks_total=len(rows), pages=pages or None, ocr_pages=list(ocr_pages), updated_at=utcnow(),
                    title=InfoBlob.title if title is None else
                    case((InfoBlob.title == InfoBlob.filename, title), else_=InfoBlob.title),
                    language=func.coalesce(InfoBlob.language, language))
            .returning(InfoBlob.language))).first()
        if blob is None:
            return None
        for row in rows:
            row["ts_config"] = ts_config(blob.language)
        stmt = insert(Chunk).values(rows)
        # Same text at the same index (a redelivery): nothing changes. Other text (a retry after the
        # chunk settings changed): the chunk is replaced and loses its vector.
        await s.execute(stmt.on_conflict_do_update(
            index_elements=[Chunk.info_blob_id, Chunk.chunk_index],
            set_={"text": stmt.excluded.text, "token_count": stmt.excluded.token_count, "page": stmt.excluded.page,
                  "embedding": None, "embedding_model_id": None},
            where=Chunk.text.is_distinct_from(stmt.excluded.text)))
        # A retry after the language was given (or a document from before migration 0025): same text, other
        # configuration; tsv follows (a generated column).
        config = cast(literal(rows[0]["ts_config"], String), REGCONFIG)
        await s.execute(update(Chunk).where(Chunk.info_blob_id == c.blob_id, Chunk.ts_config != config)
                        .values(ts_config=config))
        await s.execute(delete(Chunk).where(Chunk.info_blob_id == c.blob_id, Chunk.chunk_index >= len(rows)))
        embedded = and_(Chunk.embedding_model_id == c.embedding_model_id, Chunk.embedding.is_not(None))
        await s.execute(update(InfoBlob).where(InfoBlob.id == c.blob_id).values(
            chunks_embedded=select(func.count()).where(Chunk.info_blob_id == c.blob_id, embedded)
            .scalar_subquery()))
        pending = (await s.scalars(
            select(Chunk.id).where(Chunk.info_blob_id == c.blob_id, ~embedded).order_by(Chunk.chunk_index))).all()
    log.info("chunks stored", extra={"blob_id": str(c.blob_id), "chunks": len(rows), "pages": pages,
                                     "ocr_pages": len(ocr_pages), "to_embed": len(pending)})
    return c, list(pending)


async def _send_embed_work(c: Claimed, chunk_ids: list[uuid.UUID], settings: Settings) -> None:
    messages = embed_messages(c.tenant_id, c.blob_id, c.embedding_model_id, chunk_ids, settings.embed_batch_size)
    await asyncio.to_thread(storage.send_messages, settings.embed_queue_url, messages, settings=settings)


async def _mark_embedding(c: Claimed) -> None:
    """`processing -> embedding`, or straight to `ready` when every chunk has its vector already (a
    redelivery after the embed function finished). No change if embed got there first, or if the blob
    was claimed again meanwhile (the newer run marks it)."""
    async with UnitOfWork(c.tenant_id) as uow:
        blob = (await uow.session.execute(
            update(InfoBlob).where(*_mine(c))
            .values(status=InfoBlobStatus.embedding, updated_at=utcnow()).returning(InfoBlob))).scalar_one_or_none()
        if blob is not None and blob.chunks_embedded >= blob.chunks_total > 0:
            blob = (await uow.session.execute(
                update(InfoBlob).where(InfoBlob.id == c.blob_id)
                .values(status=InfoBlobStatus.ready, processed_at=utcnow(), embedding_model_id=c.embedding_model_id,
                        updated_at=utcnow()).returning(InfoBlob))).scalar_one()
    if blob is not None:
        await publish_status(blob)
