"""Moving a collection to another embedding model, or re-making its vectors with the same one (an e5
collection whose chunks were embedded as questions, migration 0027): every vector cleared, every chunk
queued again, to be embedded as a document.

Done in the same change as the model switch, so vectors of two models never mix in one collection; a
trigger (migration 0004) drops any vector still being written for the old model afterwards, and ingestion's
embed step drops one still being written in the old form (eneo.ingestion.embed._write).
"""

import asyncio
import logging
import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy import select, update

from eneo.core import storage
from eneo.core.db import UnitOfWork
from eneo.core.queue_messages import embed_messages  # the queues' message shapes, one place
from eneo.core.settings import Settings
from eneo.knowledge.models import Chunk, Group, InfoBlob, InfoBlobStatus
from eneo.knowledge.service.access import StorageUnavailable

log = logging.getLogger(__name__)

# Documents whose stored chunks a model change re-queues. `processing` too: its chunks may be stored
# already, with embed work for the old model on its way (which embed then skips).
EMBEDDED_STATES = (InfoBlobStatus.processing, InfoBlobStatus.embedding, InfoBlobStatus.ready,
                   InfoBlobStatus.failed)


async def reset_vectors(uow: UnitOfWork, group: Group, settings: Settings) -> list[dict[str, Any]]:
    """Clear the collection's vectors and return the embed-queue messages that make them again."""
    session, model_id = uow.session, group.embedding_model_id
    group.document_purpose = "document"
    await session.execute(update(Chunk).where(Chunk.group_id == group.id, Chunk.tenant_id == group.tenant_id)
                          .values(embedding=None, embedding_model_id=None).execution_options(synchronize_session=False))
    rows = (await session.execute(
        select(Chunk.info_blob_id, Chunk.id).join(InfoBlob, InfoBlob.id == Chunk.info_blob_id)
        .where(Chunk.group_id == group.id, Chunk.tenant_id == group.tenant_id, InfoBlob.status.in_(EMBEDDED_STATES))
        .order_by(Chunk.info_blob_id, Chunk.chunk_index))).all()
    by_blob: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for blob_id, chunk_id in rows:
        by_blob[blob_id].append(chunk_id)
    if by_blob:
        await session.execute(
            update(InfoBlob).where(InfoBlob.id.in_(list(by_blob)), InfoBlob.tenant_id == group.tenant_id)
            .values(status=InfoBlobStatus.embedding, chunks_embedded=0, embedding_model_id=model_id,
                    error_code=None, error_message=None, processed_at=None)
            .execution_options(synchronize_session=False))
    return [message for blob_id, chunk_ids in by_blob.items()
            for message in embed_messages(group.tenant_id, blob_id, model_id, chunk_ids, settings.embed_batch_size)]


async def queue_embedding(uow: UnitOfWork, group: Group, work: list[dict[str, Any]], settings: Settings) -> None:
    """Send the messages of `reset_vectors` (after the commit). If they cannot be sent, the documents are
    failed (retryable) and the caller gets 503: the collection keeps its new model either way."""
    try:
        await asyncio.to_thread(storage.send_messages, settings.embed_queue_url, work, settings=settings)
    except Exception as exc:
        log.error("re-embedding not queued", extra={"group_id": str(group.id), "error": type(exc).__name__})
        blob_ids = list({uuid.UUID(m["blob_id"]) for m in work})
        await uow.session.execute(
            update(InfoBlob).where(InfoBlob.id.in_(blob_ids), InfoBlob.tenant_id == group.tenant_id)
            .values(status=InfoBlobStatus.failed, error_code="embedding_failed",
                    error_message="Re-embedding with the collection's new model could not be queued; retry")
            .execution_options(synchronize_session=False))
        await uow.commit()
        raise StorageUnavailable("The collection now uses the new model, but its documents could not be queued "
                                 "for re-embedding; retry them") from None
