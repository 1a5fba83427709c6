"""Uploads: a presigned POST for browsers, or the bytes in the request for API clients.

A direct upload commits its row before it writes the object: the object's S3 event starts ingestion,
which must find the row. If the write fails, the row is removed again (503). Uploading the bytes of a
document that has not finished resumes it instead of answering "duplicate" (see `_resume_upload`).
"""

import asyncio
import hashlib
import logging
import uuid

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from eneo.auth.principal import Principal
from eneo.core import storage
from eneo.core.db import UnitOfWork
from eneo.core.ids import new_id, utcnow
from eneo.core.settings import Settings
from eneo.knowledge.limits import accepted_for, too_large, unsupported
from eneo.knowledge.models import Group, InfoBlob, InfoBlobStatus
from eneo.knowledge.schemas import PresignedUpload, UploadOut, UploadUrlOut, UploadUrlRequest
from eneo.knowledge.service.access import StorageUnavailable, blob_for, blob_out, group_for, invalid
from eneo.knowledge.service.retries import STUCK, start_over
from eneo.knowledge.status_events import publish_status  # the uploader's status event, best effort
from eneo.spaces.policy import SpaceAction

log = logging.getLogger(__name__)


def _new_blob(p: Principal, group: Group, *, title: str | None, filename: str, declared_type: str,
              language: str | None = None) -> InfoBlob:
    blob_id = new_id()
    return InfoBlob(id=blob_id, tenant_id=p.tenant_id, group_id=group.id, uploaded_by=p.user_id,
                    title=(title or filename)[:500], filename=filename[:255], declared_type=declared_type[:200],
                    object_key=storage.object_key(p.tenant_id, group.id, blob_id), status=InfoBlobStatus.uploading,
                    chunks_total=0, chunks_embedded=0, attempts=0, language=language)


async def _check_transcription(uow: UnitOfWork, p: Principal, family: str) -> None:
    """Audio is transcribed on its uploader's behalf: 403 `model_not_allowed` before the bytes are stored
    when the model it would go to is limited to user groups the uploader is not in (ingestion checks again,
    for a limit changed while the document waits)."""
    from eneo.model_providers.transcription_service import AudioNotSent, audio_model_for
    from eneo.permissions.model_access import require_model_access

    if family != "audio":
        return
    try:
        found = await audio_model_for(uow.session, p.tenant_id)
    except AudioNotSent:
        return  # the document fails saying what to change (eneo.ingestion.ingest): an admin's matter
    if found is not None:
        await require_model_access(uow, p.user_id, "transcription", found[0].name, found[0].allowed_group_ids)


async def create_upload_url(uow: UnitOfWork, p: Principal, group_id: uuid.UUID, data: UploadUrlRequest,
                            settings: Settings) -> UploadUrlOut:
    """A document row (status uploading) and a presigned POST that storage holds to the type's size limit
    and exact media type; the object's S3 event starts ingestion."""
    group = await group_for(uow, p, group_id, SpaceAction.edit_content)
    accepted = accepted_for(data.content_type, data.filename)
    if accepted is None:
        raise unsupported(reason="This file type is not accepted")
    if data.size_bytes > accepted.max_bytes(settings):
        raise too_large(accepted, settings)
    await _check_transcription(uow, p, accepted.family)
    blob = _new_blob(p, group, title=data.title, filename=data.filename, declared_type=data.content_type,
                     language=data.language)
    blob.size_bytes = data.size_bytes
    # The policy holds the file to the size the client declared (itself within the type's limit): the
    # row says what is coming, and storage refuses anything bigger.
    post = storage.presigned_post(blob.object_key, content_type=accepted.media_type, max_bytes=data.size_bytes,
                                  settings=settings)
    uow.session.add(blob)
    await uow.session.flush()
    await uow.commit()
    return UploadUrlOut(upload=PresignedUpload(url=post.url, fields=post.fields, expires_at=post.expires_at),
                        blob=blob_out(blob))


async def _duplicate(uow: UnitOfWork, group: Group, content_hash: str) -> InfoBlob | None:
    return await uow.session.scalar(select(InfoBlob).where(
        InfoBlob.group_id == group.id, InfoBlob.tenant_id == group.tenant_id, InfoBlob.content_hash == content_hash,
        InfoBlob.status != InfoBlobStatus.failed))


async def upload(uow: UnitOfWork, p: Principal, group_id: uuid.UUID, *, data: bytes, filename: str,
                 declared_type: str | None, title: str | None, settings: Settings, language: str | None = None
                 ) -> tuple[UploadOut, bool]:
    """Store a document sent in the request. Returns (the document, started): started is False when the
    collection has the same content in a `ready` document (returned, marked `duplicate`). The same content
    in a document that has not finished resumes that one (`resumed`, see `_resume_upload`)."""
    from eneo.knowledge.extract import ExtractionError, detect

    group = await group_for(uow, p, group_id, SpaceAction.edit_content)
    try:
        doc_type = detect(data, filename, declared_type)
    except ExtractionError as exc:
        if exc.code == "empty":
            raise invalid("file", "the file is empty") from None
        raise unsupported(exc.code, exc.message) from None
    if len(data) > doc_type.accepted.max_bytes(settings):
        raise too_large(doc_type.accepted, settings)
    await _check_transcription(uow, p, doc_type.accepted.family)
    content_hash = hashlib.sha256(data).hexdigest()
    if (existing := await _duplicate(uow, group, content_hash)) is not None:
        return await _existing_content(uow, p, existing, data, doc_type.media_type, settings)
    blob = _new_blob(p, group, title=title, filename=filename, declared_type=declared_type or doc_type.media_type,
                     language=language)
    blob.content_type, blob.size_bytes, blob.content_hash = doc_type.media_type, len(data), content_hash
    uow.session.add(blob)
    try:
        await uow.session.flush()
    except IntegrityError:  # the same content arrived at the same moment
        await uow.rollback()
        if (existing := await _duplicate(uow, group, content_hash)) is not None:
            return await _existing_content(uow, p, existing, data, doc_type.media_type, settings)
        raise
    await uow.commit()
    try:
        await asyncio.to_thread(storage.put_object, blob.object_key, data, doc_type.media_type, settings=settings)
    except Exception as exc:
        log.error("document object not stored", extra={"object_key": blob.object_key, "error": type(exc).__name__})
        await uow.session.execute(delete(InfoBlob).where(InfoBlob.id == blob.id, InfoBlob.tenant_id == p.tenant_id))
        await uow.commit()
        raise StorageUnavailable("The document could not be stored; try again") from None
    await _queued(uow, blob)
    return UploadOut(**blob_out(blob).model_dump(), duplicate=False), True


async def _queued(uow: UnitOfWork, blob: InfoBlob) -> None:
    """The file is stored: `uploading` -> `queued` until ingest takes it (which may have happened already:
    its S3 event can be quicker than this response, so the change is conditional)."""
    changed = (await uow.session.execute(
        update(InfoBlob).where(InfoBlob.id == blob.id, InfoBlob.tenant_id == blob.tenant_id,
                               InfoBlob.status == InfoBlobStatus.uploading)
        .values(status=InfoBlobStatus.queued, updated_at=utcnow())
        .returning(InfoBlob).execution_options(populate_existing=True))).scalar_one_or_none()
    await uow.commit()
    if changed is not None:
        await publish_status(changed)
    else:
        await uow.session.refresh(blob)


async def _existing_content(uow: UnitOfWork, p: Principal, existing: InfoBlob, data: bytes, media_type: str,
                            settings: Settings) -> tuple[UploadOut, bool]:
    """The collection has these bytes in `existing`: when it is ready, that is the answer (`duplicate`);
    otherwise it is resumed."""
    blob = await blob_for(uow, p, existing.id, SpaceAction.edit_content, lock=True)  # as it is now, locked
    if blob.status == InfoBlobStatus.ready:
        return UploadOut(**blob_out(blob).model_dump(), duplicate=True), False
    return await _resume_upload(uow, blob, data, media_type, settings), True


async def _resume_upload(uow: UnitOfWork, blob: InfoBlob, data: bytes, media_type: str, settings: Settings
                         ) -> UploadOut:
    """Someone uploads again the bytes of a document that has not finished (stranded by a restart, say):
    it starts over (`start_over`), and the bytes are stored again under its key, whose S3 event starts
    ingestion, so a file that never reached storage is repaired too. Harmless if it was in fact moving
    (see eneo.knowledge.service.retries). If the bytes cannot be stored it is failed, retryable, and the
    caller gets 503."""
    await start_over(uow, blob)
    await uow.commit()
    try:
        await asyncio.to_thread(storage.put_object, blob.object_key, data, media_type, settings=settings)
    except Exception as exc:
        log.error("document object not stored again", extra={"object_key": blob.object_key,
                                                             "error": type(exc).__name__})
        blob.status, blob.error_code, blob.error_message = InfoBlobStatus.failed, *STUCK
        await uow.commit()
        await publish_status(blob)
        raise StorageUnavailable("The document could not be stored; try again") from None
    log.info("unfinished document resumed by a new upload", extra={"blob_id": str(blob.id)})
    await publish_status(blob)
    return UploadOut(**blob_out(blob).model_dump(), duplicate=False, resumed=True)
