"""Blob status changes shared by ingest and embed: failing a blob with a reason, and telling its owner.

Every change is a conditional UPDATE ... RETURNING in its own short transaction, so two deliveries of
one message (or ingest and embed racing) can only move a blob forwards, and only the run whose
update matched publishes the event.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import update

from eneo.core.db import UnitOfWork
from eneo.core.errors import EneoError
from eneo.core.ids import utcnow
from eneo.knowledge.models import InfoBlob, InfoBlobStatus
from eneo.knowledge.status_events import publish_status

log = logging.getLogger("eneo.ingestion")

ACTIVE = (InfoBlobStatus.uploading, InfoBlobStatus.queued, InfoBlobStatus.processing, InfoBlobStatus.embedding)
MESSAGE_MAX = 500  # info_blobs.error_message


class DocumentFailure(EneoError):
    """A problem with the document itself (or the tenant's configuration): the blob fails with this
    code and message, and the message is *not* retried, since no retry would change the outcome."""

    http_status = 422


async def fail_blob(tenant_id: uuid.UUID, blob_id: uuid.UUID, code: str, message: str, *,
                    attempt: int | None = None) -> bool:
    """Mark a blob that is still in flight `failed`; False if it was not (ready, failed, deleted). With
    `attempt` (an ingest run's claim), only while that claim holds: still `processing` and not claimed
    again or taken back since (eneo.ingestion.ingest), so a superseded run cannot fail the newer one."""
    conditions = [InfoBlob.id == blob_id, InfoBlob.tenant_id == tenant_id, InfoBlob.status.in_(ACTIVE)]
    if attempt is not None:
        conditions += [InfoBlob.status == InfoBlobStatus.processing, InfoBlob.attempts == attempt]
    async with UnitOfWork(tenant_id) as uow:
        blob = (await uow.session.execute(
            update(InfoBlob).where(*conditions)
            .values(status=InfoBlobStatus.failed, error_code=code, error_message=message[:MESSAGE_MAX],
                    updated_at=utcnow())
            .returning(InfoBlob))).scalar_one_or_none()
    if blob is None:
        return False
    log.info("blob failed", extra={"blob_id": str(blob_id), "error_code": code})
    await publish_status(blob)
    return True


async def fail_exhausted(tenant_id: uuid.UUID, blob_id: uuid.UUID, step: str, error: BaseException,
                         attempts: int) -> None:
    """The last delivery failed too: say so on the blob before the message goes to the dead-letter queue.

    The reason names the step and the kind of error (never its text, which may quote content)."""
    message = (f"{step} failed {attempts} times ({type(error).__name__}); the service or a provider was "
               "unavailable. Retry the document later")
    try:
        await fail_blob(tenant_id, blob_id, "retries_exhausted", message)
    except Exception as exc:  # the database is what failed: the dead-letter queue still has the message
        log.error("could not mark the blob failed after its last attempt",
                  extra={"blob_id": str(blob_id), "error": type(exc).__name__})
