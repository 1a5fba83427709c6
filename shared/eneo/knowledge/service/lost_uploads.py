"""Presigned uploads that never arrived, or arrived unnoticed, settled when their documents are read.

Lazy like eneo.answers.service.abandon_if_lost; the ingestion sweep and the local stack's start apply
`expire_lost_uploads` too (eneo.ingestion.recovery), so nobody has to read them.
"""

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import update

from eneo.core import storage
from eneo.core.db import UnitOfWork
from eneo.core.ids import utcnow
from eneo.core.settings import Settings
from eneo.knowledge.models import InfoBlob, InfoBlobStatus
from eneo.knowledge.status_events import publish_status  # the uploader's status event, best effort

log = logging.getLogger(__name__)

UPLOAD_GRACE = timedelta(minutes=5)  # a POST started just before its link expired may still be arriving


async def expire_lost_uploads(uow: UnitOfWork, blobs: Sequence[InfoBlob], settings: Settings) -> list[InfoBlob]:
    """Fail, when read, the documents whose presigned upload never arrived (`upload_expired`); otherwise
    they would say `uploading` for ever.

    Lost: still `uploading` with no content hash (a direct upload's bytes are stored before its response,
    and it has one) and no change since `upload_url_expiry_seconds` + UPLOAD_GRACE (a retry puts a
    document in `queued`, and a missing file then fails it `object_missing`). If the file does arrive later,
    ingest does not claim the failed document (its object stays stored, unreferenced by any status); a retry
    ingests it."""
    cutoff = utcnow() - timedelta(seconds=settings.upload_url_expiry_seconds) - UPLOAD_GRACE
    lost = [b.id for b in blobs if b.status == InfoBlobStatus.uploading and b.content_hash is None
            and b.created_at <= cutoff and b.updated_at <= cutoff]
    if not lost:
        return list(blobs)
    minutes = (settings.upload_url_expiry_seconds + int(UPLOAD_GRACE.total_seconds())) // 60
    expired = (await uow.session.execute(
        update(InfoBlob).where(InfoBlob.id.in_(lost), InfoBlob.tenant_id == blobs[0].tenant_id,
                               InfoBlob.status == InfoBlobStatus.uploading, InfoBlob.content_hash.is_(None),
                               InfoBlob.created_at <= cutoff, InfoBlob.updated_at <= cutoff)
        .values(status=InfoBlobStatus.failed, error_code="upload_expired",
                error_message=f"The file did not arrive in storage within {minutes} minutes of its upload link "
                              "being issued; upload it again")
        .returning(InfoBlob).execution_options(populate_existing=True))).scalars().all()
    await uow.commit()
    by_id = {b.id: b for b in expired}
    for blob in expired:
        log.info("upload expired", extra={"blob_id": str(blob.id)})
        await publish_status(blob)
    return [by_id.get(b.id, b) for b in blobs]


async def notice_arrived_uploads(uow: UnitOfWork, blobs: Sequence[InfoBlob], settings: Settings
                                 ) -> list[InfoBlob]:
    """`queued`, when read, the presigned uploads whose file has arrived (a HEAD finds it) but which ingest
    has not taken yet: their S3 event waits in the ingest queue, and until ingest claims them nothing else
    tells us the bytes are there (the browser reads its document once its POST is done). Best effort: a
    storage error leaves the document as it was; the ingest claim takes `uploading` and `queued` alike."""
    waiting = [b for b in blobs if b.status == InfoBlobStatus.uploading and b.content_hash is None]
    if not waiting:
        return list(blobs)
    arrived = []
    for blob in waiting:
        try:
            if await asyncio.to_thread(storage.object_size, blob.object_key, settings=settings) is not None:
                arrived.append(blob.id)
        except Exception as exc:
            log.warning("upload not checked", extra={"blob_id": str(blob.id), "error": type(exc).__name__})
    if not arrived:
        return list(blobs)
    noticed = (await uow.session.execute(
        update(InfoBlob).where(InfoBlob.id.in_(arrived), InfoBlob.tenant_id == blobs[0].tenant_id,
                               InfoBlob.status == InfoBlobStatus.uploading)
        .values(status=InfoBlobStatus.queued, updated_at=utcnow())
        .returning(InfoBlob).execution_options(populate_existing=True))).scalars().all()
    await uow.commit()
    for blob in noticed:
        await publish_status(blob)
    by_id = {b.id: b for b in noticed}
    return [by_id.get(b.id, b) for b in blobs]


async def settle_uploads(uow: UnitOfWork, blobs: Sequence[InfoBlob], settings: Settings) -> list[InfoBlob]:
    """Both, in order, as every read of documents applies them."""
    return await notice_arrived_uploads(uow, await expire_lost_uploads(uow, blobs, settings), settings)
