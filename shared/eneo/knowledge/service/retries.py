"""Starting a document over from its stored file: the retry route, and the reset an upload of the same
bytes uses to resume one that has not finished (eneo.knowledge.service.uploads)."""

import asyncio
import logging
import uuid

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from eneo.auth.principal import Principal
from eneo.core import storage
from eneo.core.db import UnitOfWork
from eneo.core.errors import Conflict
from eneo.core.queue_messages import RetryRequest  # the queues' message shapes, one place
from eneo.core.settings import Settings
from eneo.knowledge.models import Chunk, InfoBlob, InfoBlobStatus
from eneo.knowledge.schemas import InfoBlobOut
from eneo.knowledge.service.access import StorageUnavailable, blob_for, blob_out
from eneo.knowledge.status_events import publish_status  # the uploader's status event, best effort
from eneo.spaces.policy import SpaceAction

log = logging.getLogger(__name__)

STUCK = ("retries_exhausted", "The document stopped making progress and could not be queued again; retry it")


def _retryable(blob: InfoBlob) -> None:
    """Every document but a `ready` one: failed ones, and any that has not finished, at any time (see `retry`)."""
    if blob.status == InfoBlobStatus.ready:
        raise Conflict("This document is ready; only one that failed or has not finished can be retried",
                       code="not_failed")


async def start_over(uow: UnitOfWork, blob: InfoBlob) -> None:
    """Back to `queued` with no chunks, no error and no progress, so ingestion starts over from the file.
    `attempts` is kept: each ingest claim is a generation, which is what stops a run still under way
    (eneo.ingestion.ingest)."""
    await uow.session.execute(delete(Chunk).where(Chunk.info_blob_id == blob.id, Chunk.tenant_id == blob.tenant_id))
    blob.status, blob.error_code, blob.error_message = InfoBlobStatus.queued, None, None
    blob.chunks_total = blob.chunks_embedded = 0
    blob.processed_at = blob.embedding_model_id = None


async def retry(uow: UnitOfWork, p: Principal, blob_id: uuid.UUID, settings: Settings) -> InfoBlobOut:
    """Start a document that is not ready over: chunks removed, status `queued`, a retry message to ingest.

    Allowed for a failed document and for one in any unfinished state, at once: a document stranded by a
    crash or a restart must be rescuable without waiting for the sweep. If it was in fact still being
    worked on, this is harmless: the running ingest's next write is conditional on its own claim
    (`processing` with its generation, eneo.ingestion.ingest), so it stops without writing; embed
    messages still on their way find the blob no longer `embedding`, or name chunks that are gone, and
    do nothing; the retry message's run does the work once. What it costs is the work redone."""
    blob = await blob_for(uow, p, blob_id, SpaceAction.edit_content, lock=True)
    _retryable(blob)
    previous = (blob.error_code, blob.error_message) if blob.status == InfoBlobStatus.failed else STUCK
    await start_over(uow, blob)
    try:
        await uow.session.flush()
    except IntegrityError:
        await uow.rollback()
        raise Conflict("The collection has a document with this content already", code="duplicate_content") from None
    await uow.commit()
    message = RetryRequest(blob.tenant_id, blob.id).to_message()
    try:
        await asyncio.to_thread(storage.send_messages, settings.ingest_queue_url, [message], settings=settings)
    except Exception as exc:
        log.error("retry not queued", extra={"blob_id": str(blob.id), "error": type(exc).__name__})
        blob.status, (blob.error_code, blob.error_message) = InfoBlobStatus.failed, previous
        await uow.commit()
        raise StorageUnavailable("The retry could not be queued; try again") from None
    await publish_status(blob)
    return blob_out(blob)
