"""Resume documents whose pipeline messages were lost: re-queue the work each one is waiting for, or end it.

Messages can vanish while a document is in flight: the local stack's SQS (moto) keeps its queues in
memory, so whatever was queued when `eneo-local up` stopped is gone after a restart; on AWS a
function killed mid-work (timeout, crash) may leave a document behind. Without this, such a
document sits `uploading`/`processing`/`embedding` until someone retries it. `resume_unfinished`
takes each one, on its own, from the stage it was left at:

* `uploading` or `queued` with its object stored -> a retry message to the ingest queue (the object's S3 event
  may be lost). Without an object: a direct upload (its bytes, hashed, are stored before its
  response) whose file is not there never will be -> `failed` (`object_missing`, "upload it again");
  a presigned upload whose link expired -> `failed` (`upload_expired`, as eneo.knowledge.service.lost_uploads
  does when it is read); one whose link is still valid is left alone: its file may still arrive.
* `processing` -> back to `queued`, then the same retry message: ingest claims only `uploading` and
  `queued` blobs on a first delivery, and a lost message has no redelivery to take over a `processing` one.
* `embedding` -> embed messages for its chunks still without a vector of the collection's current
  model; when none is missing (stopped between writing the vectors and counting them), one message
  for its first chunks, so embed recounts and marks it `ready`. Without chunks (nothing to embed:
  an inconsistent row) -> back to `queued` and a retry message, ingested again from its file.

Each document is resumed on its own: one that fails (its HEAD refused, its row gone, a bug) is logged
with its id and the error's type and the others still go. The bucket, endpoints and queues are the
caller's `settings` throughout (the local stack builds its own; its process environment names none).
Messages of all documents go out together, ten per request; if that fails, each document's go out
on their own, so one refused message does not hold back the rest.

The messages are the pipeline's own (`RetryRequest`, `EmbedRequest`, sent with
`storage.send_messages`), and running it twice, or while the original message is still on its way,
is harmless by construction: the claim `uploading -> processing` is a conditional UPDATE (a second
retry message finds the blob claimed and does nothing), chunks are upserted on (blob, index), and
embed skips chunks that already have a vector of the model, recounting rather than incrementing.
A blob is only moved back if it is still in the state it was found in and unchanged since the
cut-off, so a run making progress elsewhere is not disturbed; if it was in fact still running, its
next step finds the blob no longer its own (eneo.ingestion.ingest's claim generation) and stops, and
the retry redoes the work. Only ids go to the log, never titles or content.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, update

from eneo.core import storage
from eneo.core.db import UnitOfWork
from eneo.core.ids import utcnow
from eneo.core.queue_messages import RetryRequest, embed_messages
from eneo.core.settings import Settings, get_settings
from eneo.ingestion.status import ACTIVE, fail_blob
from eneo.knowledge.models import Chunk, Group, InfoBlob, InfoBlobStatus
from eneo.knowledge.status_events import publish_status

log = logging.getLogger("eneo.ingestion")

OBJECT_MISSING = ("The uploaded file is not in storage (the upload did not finish, or it was removed); "
                  "upload it again")


@dataclass
class _Work:
    """What resuming one tenant's documents comes to: messages per document, and what was ended or failed."""

    retries: dict[uuid.UUID, list[dict[str, Any]]] = field(default_factory=dict)
    embeds: dict[uuid.UUID, list[dict[str, Any]]] = field(default_factory=dict)
    ended: int = 0  # failed here: their file is gone or never came
    errors: int = 0  # documents that could not be resumed (logged one by one)


async def resume_unfinished(tenant_id: uuid.UUID, *, older_than_seconds: float,
                            settings: Settings | None = None) -> int:
    """Resume the tenant's documents in flight with no change for `older_than_seconds` (see the module
    docstring); returns how many were re-queued."""
    settings = settings or get_settings()
    cutoff = utcnow() - timedelta(seconds=max(older_than_seconds, 0.0))
    async with UnitOfWork(tenant_id) as uow:
        blobs = list((await uow.session.scalars(
            select(InfoBlob)
            .where(InfoBlob.tenant_id == tenant_id, InfoBlob.status.in_(ACTIVE), InfoBlob.updated_at <= cutoff)
            .order_by(InfoBlob.created_at))).all())
    if not blobs:
        return 0
    work = _Work()
    for blob in blobs:
        try:
            await _resume(blob, cutoff, settings, work)
        except Exception as exc:
            work.errors += 1
            log.error("document not resumed", extra={"blob_id": str(blob.id), "status": blob.status.value,
                                                     "error": type(exc).__name__})
    sent = await _send(settings.ingest_queue_url, work.retries, settings, work)
    sent |= await _send(settings.embed_queue_url, work.embeds, settings, work)
    if sent or work.ended or work.errors:
        log.log(logging.ERROR if work.errors else logging.INFO, "unfinished ingestion resumed", extra={
            "tenant_id": str(tenant_id), "retried": len(sent & set(work.retries)),
            "embedding": len(sent & set(work.embeds)), "ended": work.ended, "errors": work.errors})
    return len(sent)


async def _resume(blob: InfoBlob, cutoff: datetime, settings: Settings, work: _Work) -> None:
    """Decide (and do, in the database) what this one document needs; its messages go into `work`."""
    retry = [RetryRequest(blob.tenant_id, blob.id).to_message()]
    if blob.status in (InfoBlobStatus.uploading, InfoBlobStatus.queued):
        if await asyncio.to_thread(storage.object_size, blob.object_key, settings=settings) is not None:
            work.retries[blob.id] = retry
        elif blob.status == InfoBlobStatus.queued:  # its file was stored, and is gone
            if await fail_blob(blob.tenant_id, blob.id, "object_missing", OBJECT_MISSING):
                work.ended += 1
        elif await _end_lost_upload(blob, settings):
            work.ended += 1
    elif blob.status == InfoBlobStatus.processing:
        if await _reopen(blob, cutoff):
            work.retries[blob.id] = retry
    elif blob.status == InfoBlobStatus.embedding:
        messages = await _embed_work(blob, settings)
        if messages:
            work.embeds[blob.id] = messages
        elif await _reopen(blob, cutoff):
            log.warning("document embedding without chunks: ingested again", extra={"blob_id": str(blob.id)})
            work.retries[blob.id] = retry


async def _end_lost_upload(blob: InfoBlob, settings: Settings) -> bool:
    """Fail an `uploading` document whose file is not in storage, if it never will be (see the module
    docstring); True if it was failed here."""
    if blob.content_hash is not None:  # a direct upload: its bytes were to be stored before its response
        return await fail_blob(blob.tenant_id, blob.id, "object_missing", OBJECT_MISSING)
    from eneo.knowledge.service.lost_uploads import expire_lost_uploads  # the rule the knowledge API applies when read

    async with UnitOfWork(blob.tenant_id) as uow:
        current = await uow.session.get(InfoBlob, blob.id)
        if current is None:
            return False
        [after] = await expire_lost_uploads(uow, [current], settings)
        return after.status == InfoBlobStatus.failed


async def _reopen(blob: InfoBlob, cutoff: datetime) -> bool:
    """Back to `queued` (its file is stored: it was read) if still in the state it was found in and unchanged
    since the cut-off, before its retry message is sent (sent first, the message could be handled, and find
    nothing to claim, before the change). False if it moved on meanwhile."""
    async with UnitOfWork(blob.tenant_id) as uow:
        reopened = (await uow.session.execute(
            update(InfoBlob).where(InfoBlob.id == blob.id, InfoBlob.tenant_id == blob.tenant_id,
                                   InfoBlob.status == blob.status, InfoBlob.updated_at <= cutoff)
            .values(status=InfoBlobStatus.queued, updated_at=utcnow())
            .returning(InfoBlob))).scalar_one_or_none()
    if reopened is not None:
        await publish_status(reopened)
    return reopened is not None


async def _embed_work(blob: InfoBlob, settings: Settings) -> list[dict[str, Any]]:
    """Embed messages for the blob's chunks without a vector of its collection's model (all embedded: one
    message for its first chunks, so embed recounts and finishes it); none if it has no chunks."""
    async with UnitOfWork(blob.tenant_id) as uow:
        rows = (await uow.session.execute(
            select(Chunk.id, Group.embedding_model_id,
                   and_(Chunk.embedding_model_id == Group.embedding_model_id,
                        Chunk.embedding.is_not(None)).label("embedded"))
            .join(Group, Group.id == Chunk.group_id)
            .where(Chunk.info_blob_id == blob.id, Chunk.tenant_id == blob.tenant_id)
            .order_by(Chunk.chunk_index))).all()
    if not rows:
        return []
    size = settings.embed_batch_size
    pending = [r.id for r in rows if not r.embedded]
    ids = pending or [r.id for r in rows[:size]]
    return embed_messages(blob.tenant_id, blob.id, rows[0].embedding_model_id, ids, size)


async def _send(queue_url: str, messages: dict[uuid.UUID, list[dict[str, Any]]], settings: Settings,
                work: _Work) -> set[uuid.UUID]:
    """Send every document's messages, together if SQS takes them, else document by document; the ids of
    the documents whose messages went out."""
    if not messages:
        return set()
    try:
        await asyncio.to_thread(storage.send_messages, queue_url, [m for ms in messages.values() for m in ms],
                                settings=settings)
        return set(messages)
    except Exception as exc:
        log.warning("resume messages not sent together; sending them one document at a time",
                    extra={"documents": len(messages), "error": type(exc).__name__})
    sent = set()
    for blob_id, own in messages.items():
        try:
            await asyncio.to_thread(storage.send_messages, queue_url, own, settings=settings)
            sent.add(blob_id)
        except Exception as exc:
            work.errors += 1
            log.error("document not resumed", extra={"blob_id": str(blob_id), "error": type(exc).__name__})
    return sent
