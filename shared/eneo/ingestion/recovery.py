"""Resume documents whose pipeline messages were lost: re-queue the work each one is waiting for.

Messages can vanish while a document is in flight: the local stack's SQS (moto) keeps its queues in
memory, so whatever was queued when `eneo-local up` stopped is gone after a restart; on AWS a
function killed mid-work (timeout, crash) may leave a document behind. Without this, such a
document sits `uploading`/`processing`/`embedding` until someone retries it by hand, which the API
allows only after `ingest_stale_seconds`. `resume_unfinished` puts each back on the queue it left:

* `uploading` with its object stored -> a retry message to the ingest queue (the object's S3 event
  may be lost). Without an object it is left alone: the upload has not arrived, and the knowledge
  service fails it as `upload_expired` once its link has expired.
* `processing` -> back to `uploading`, then the same retry message: ingest claims only `uploading`
  blobs on a first delivery, and a lost message has no redelivery to take over a `processing` one.
* `embedding` -> embed messages for its chunks still without a vector of the collection's current
  model; when none is missing (stopped between writing the vectors and counting them), one message
  for its first chunks, so embed recounts and marks it `ready`.

The messages are the pipeline's own (`RetryRequest`, `EmbedRequest`, sent with
`storage.send_messages`), and running it twice, or while the original message is still on its way,
is harmless by construction: the claim `uploading -> processing` is a conditional UPDATE (a second
retry message finds the blob claimed and does nothing), chunks are upserted on (blob, index), and
embed skips chunks that already have a vector of the model, recounting rather than incrementing.
A `processing` blob is only moved back if it is still `processing` and unchanged since the cut-off,
so a run making progress elsewhere is not disturbed; if it was in fact still running, its own
later steps find the blob no longer `processing` and stop, and the retry redoes the work.
Only ids go to the log, never titles or content.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, select, update

from eneo.core.db import UnitOfWork
from eneo.core.ids import utcnow
from eneo.core.settings import Settings, get_settings
from eneo.ingestion.events import RetryRequest, embed_messages
from eneo.ingestion.status import ACTIVE, publish
from eneo.knowledge import storage
from eneo.knowledge.models import Chunk, Group, InfoBlob, InfoBlobStatus

log = logging.getLogger("eneo.ingestion")


async def resume_unfinished(tenant_id: uuid.UUID, *, older_than_seconds: float,
                            settings: Settings | None = None) -> int:
    """Re-queue the tenant's documents in flight with no change for `older_than_seconds` (see the module
    docstring); returns how many documents were re-queued."""
    settings = settings or get_settings()
    cutoff = utcnow() - timedelta(seconds=max(older_than_seconds, 0.0))
    async with UnitOfWork(tenant_id) as uow:
        rows = (await uow.session.execute(
            select(InfoBlob.id, InfoBlob.status, InfoBlob.object_key)
            .where(InfoBlob.tenant_id == tenant_id, InfoBlob.status.in_(ACTIVE), InfoBlob.updated_at <= cutoff)
            .order_by(InfoBlob.created_at))).all()
    if not rows:
        return 0
    # HEAD: has the upload arrived? Storage being down is raised, not taken for a missing file.
    uploaded = [r.id for r in rows if r.status == InfoBlobStatus.uploading
                and await asyncio.to_thread(storage.object_size, r.object_key) is not None]
    reopened = await _reopen(tenant_id, [r.id for r in rows if r.status == InfoBlobStatus.processing], cutoff)
    retries = [RetryRequest(tenant_id, blob_id).to_message() for blob_id in uploaded + reopened]
    await asyncio.to_thread(storage.send_messages, settings.ingest_queue_url, retries)
    embeds, embedding = await _embed_work(tenant_id, [r.id for r in rows if r.status == InfoBlobStatus.embedding],
                                          settings)
    await asyncio.to_thread(storage.send_messages, settings.embed_queue_url, embeds)
    count = len(retries) + embedding
    if count:
        log.info("unfinished ingestion resumed", extra={"tenant_id": str(tenant_id), "retried": len(retries),
                                                         "embedding": embedding})
    return count


async def _reopen(tenant_id: uuid.UUID, blob_ids: Sequence[uuid.UUID], cutoff: Any) -> list[uuid.UUID]:
    """`processing -> uploading` for those still unchanged since the cut-off, before their retry messages
    are sent (sent first, a message could be handled, and find nothing to claim, before the change)."""
    if not blob_ids:
        return []
    async with UnitOfWork(tenant_id) as uow:
        blobs = list((await uow.session.execute(
            update(InfoBlob).where(InfoBlob.id.in_(blob_ids), InfoBlob.tenant_id == tenant_id,
                                   InfoBlob.status == InfoBlobStatus.processing, InfoBlob.updated_at <= cutoff)
            .values(status=InfoBlobStatus.uploading, updated_at=utcnow())
            .returning(InfoBlob))).scalars().all())
    for blob in blobs:
        await publish(blob)
    return [b.id for b in blobs]


async def _embed_work(tenant_id: uuid.UUID, blob_ids: Sequence[uuid.UUID], settings: Settings
                      ) -> tuple[list[dict[str, Any]], int]:
    """Embed messages for the blobs' chunks without a vector of their collection's model, and how many blobs
    they are for (a blob without chunks cannot be embedded and is left for a manual retry)."""
    if not blob_ids:
        return [], 0
    async with UnitOfWork(tenant_id) as uow:
        rows = (await uow.session.execute(
            select(Chunk.info_blob_id, Chunk.id, Group.embedding_model_id,
                   and_(Chunk.embedding_model_id == Group.embedding_model_id,
                        Chunk.embedding.is_not(None)).label("embedded"))
            .join(Group, Group.id == Chunk.group_id)
            .where(Chunk.info_blob_id.in_(blob_ids), Chunk.tenant_id == tenant_id)
            .order_by(Chunk.info_blob_id, Chunk.chunk_index))).all()
    by_blob: dict[uuid.UUID, tuple[uuid.UUID, list[uuid.UUID], list[uuid.UUID]]] = {}
    for row in rows:
        _, every, pending = by_blob.setdefault(row.info_blob_id, (row.embedding_model_id, [], []))
        every.append(row.id)
        if not row.embedded:
            pending.append(row.id)
    size, messages = settings.embed_batch_size, []
    for blob_id, (model_id, every, pending) in by_blob.items():
        ids = pending or every[:size]  # all embedded: one message makes embed recount and finish it
        messages += embed_messages(tenant_id, blob_id, model_id, ids, size)
    for blob_id in set(blob_ids) - set(by_blob):
        log.warning("document embedding without chunks not resumed; retry it", extra={"blob_id": str(blob_id)})
    return messages, len(by_blob)
