"""Knowledge use cases: collections (groups) in spaces, their documents (info blobs), uploads, retries.

Decisions (and why):
* Access follows the space: members read a collection, its documents and search it; editors and
  admins of the space (and tenant admins who are members) change them. Everyone else, and every
  other tenant, gets 404: a collection's existence never leaks. Every query filters by tenant;
  Row-Level Security is the second wall.
* A direct upload commits its row before it writes the object: the object's S3 event starts
  ingestion, which must find the row. If the write fails, the row is removed again (503).
* Deleting removes rows first (chunks and vectors go by cascade, in one transaction) and the
  object after the commit: a failed object delete leaves an unreachable object (logged by key),
  never a document whose bytes are gone.
* Changing a collection's embedding model clears every vector of the collection and queues all its
  chunks for the new model in the same change, so vectors of two models never mix in one collection;
  a trigger (migration 0004) drops any vector still being written for the old model afterwards.
* A presigned upload that never arrived is failed (`upload_expired`) when it is read (and by the
  sweep). Any document not yet `ready` may be retried at any time, and uploading the same bytes again
  resumes one that has not finished instead of answering "duplicate": a user can always rescue a
  stuck document, and doing so to one that was in fact moving is harmless (see `retry`). The
  scheduled sweep (eneo.ingestion.sweep) and the local stack's start re-queue stuck ones by themselves.
"""

import asyncio
import hashlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import Select, and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from eneo.auth.principal import Principal
from eneo.core import storage
from eneo.core.db import UnitOfWork
from eneo.core.errors import AppError, Conflict, NotFound, ValidationFailed
from eneo.core.ids import new_id, utcnow
from eneo.core.pagination import paginate
from eneo.core.queue_messages import RetryRequest, embed_messages  # the queues' message shapes, one place
from eneo.core.settings import Settings, get_settings
from eneo.knowledge.events import publish_status  # the uploader's status event, best effort
from eneo.knowledge.limits import accepted_for, too_large, unsupported
from eneo.knowledge.models import Chunk, Group, InfoBlob, InfoBlobStatus
from eneo.knowledge.schemas import (
    GroupCreate,
    GroupOut,
    GroupUpdate,
    InfoBlobOut,
    InfoBlobUpdate,
    PassageOut,
    PresignedUpload,
    UploadOut,
    UploadUrlOut,
    UploadUrlRequest,
)
from eneo.model_providers.embedding_models import default_embedding_model, usable_embedding_model
from eneo.spaces.models import Space, SpaceMember, SpaceRole
from eneo.spaces.policy import SpaceAction, require

log = logging.getLogger(__name__)

_Q = TypeVar("_Q", bound=Select)
# Documents whose stored chunks a model change re-queues. `processing` too: its chunks may be stored
# already, with embed work for the old model on its way (which embed then skips).
EMBEDDED_STATES = (InfoBlobStatus.processing, InfoBlobStatus.embedding, InfoBlobStatus.ready,
                   InfoBlobStatus.failed)


class StorageUnavailable(AppError):
    status, code = 503, "storage_unavailable"


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"Invalid request: {field}: {message}",
                            details=[{"field": field, "message": message, "type": "value_error"}])


def _require(p: Principal, role: SpaceRole, action: SpaceAction) -> None:
    """The space role decides; a tenant admin who is a member may also change content."""
    if action == SpaceAction.edit_content and p.is_admin:
        return
    require(role, action)


# --- look-ups with access checks -------------------------------------------------------------------


def _member_join(query: _Q, p: Principal) -> _Q:
    return query.join(SpaceMember, and_(SpaceMember.space_id == Group.space_id, SpaceMember.user_id == p.user_id))


async def _group(uow: UnitOfWork, p: Principal, group_id: uuid.UUID, action: SpaceAction, *, lock: bool = False
                 ) -> Group:
    query = _member_join(select(Group, SpaceMember.role), p).where(Group.id == group_id,
                                                                   Group.tenant_id == p.tenant_id)
    row = (await uow.session.execute(query.with_for_update(of=Group) if lock else query)).first()
    if row is None:
        raise NotFound("Collection")
    _require(p, row[1], action)
    return row[0]


async def _blob(uow: UnitOfWork, p: Principal, blob_id: uuid.UUID, action: SpaceAction, *, lock: bool = False
                ) -> InfoBlob:
    query = (_member_join(select(InfoBlob, SpaceMember.role).join(Group, Group.id == InfoBlob.group_id), p)
             .where(InfoBlob.id == blob_id, InfoBlob.tenant_id == p.tenant_id))
    row = (await uow.session.execute(query.with_for_update(of=InfoBlob) if lock else query)).first()
    if row is None:
        raise NotFound("Document")
    _require(p, row[1], action)
    return row[0]


async def readable_group_ids(session: AsyncSession, principal: Principal, group_ids: list[uuid.UUID]
                            ) -> list[uuid.UUID]:
    """The ones of `group_ids` the principal may read (member of the group's space, same tenant), in order."""
    if not group_ids:
        return []
    query = _member_join(select(Group.id), principal).where(Group.id.in_(set(group_ids)),
                                                            Group.tenant_id == principal.tenant_id)
    readable = set((await session.scalars(query)).all())
    return [g for g in dict.fromkeys(group_ids) if g in readable]


# --- groups ----------------------------------------------------------------------------------------


async def _group_outs(uow: UnitOfWork, groups: list[Group]) -> list[GroupOut]:
    counts: dict[uuid.UUID, tuple[int, int, int]] = {}
    if groups:
        rows = await uow.session.execute(
            select(InfoBlob.group_id, func.count(),
                   func.count().filter(InfoBlob.status == InfoBlobStatus.ready),
                   func.count().filter(InfoBlob.status == InfoBlobStatus.failed))
            .where(InfoBlob.group_id.in_([g.id for g in groups]), InfoBlob.tenant_id == groups[0].tenant_id)
            .group_by(InfoBlob.group_id))
        counts = {r[0]: (r[1], r[2], r[3]) for r in rows}
    out = []
    for g in groups:
        total, ready, failed = counts.get(g.id, (0, 0, 0))
        out.append(GroupOut(id=g.id, space_id=g.space_id, name=g.name, description=g.description,
                            embedding_model_id=g.embedding_model_id, created_by=g.created_by, documents=total,
                            documents_ready=ready, documents_failed=failed, created_at=g.created_at,
                            updated_at=g.updated_at))
    return out


async def _usable_model_id(uow: UnitOfWork, p: Principal, model_id: uuid.UUID | None) -> uuid.UUID:
    if model_id is None:
        try:
            return (await default_embedding_model(uow.session, p.tenant_id)).id
        except LookupError:
            raise _invalid("embedding_model_id", "required: this organisation has no enabled embedding model") \
                from None
    model = await usable_embedding_model(uow.session, p.tenant_id, model_id)
    if model is None:
        raise _invalid("embedding_model_id", "no enabled embedding model with this id")
    return model.id


async def create_group(uow: UnitOfWork, p: Principal, space_id: uuid.UUID, data: GroupCreate) -> GroupOut:
    _require(p, await _space_role(uow, p, space_id), SpaceAction.edit_content)
    group = Group(id=new_id(), tenant_id=p.tenant_id, space_id=space_id, name=data.name,
                  description=data.description, embedding_model_id=await _usable_model_id(uow, p,
                                                                                        data.embedding_model_id),
                  created_by=p.user_id)
    uow.session.add(group)
    await uow.session.flush()
    out = (await _group_outs(uow, [group]))[0]
    await uow.commit()
    return out


async def _space_role(uow: UnitOfWork, p: Principal, space_id: uuid.UUID) -> SpaceRole:
    """The caller's role in the space; 404 for non-members and other tenants."""
    role = await uow.session.scalar(select(SpaceMember.role).join(Space, Space.id == SpaceMember.space_id).where(
        Space.id == space_id, Space.tenant_id == p.tenant_id, SpaceMember.user_id == p.user_id))
    if role is None:
        raise NotFound("Space")
    return role


async def list_groups(uow: UnitOfWork, p: Principal, space_id: uuid.UUID, *, limit: int, cursor: str | None
                      ) -> tuple[list[GroupOut], str | None]:
    _require(p, await _space_role(uow, p, space_id), SpaceAction.read)
    rows, next_cursor = await paginate(uow.session, select(Group).where(
        Group.space_id == space_id, Group.tenant_id == p.tenant_id), Group, limit=limit, cursor=cursor)
    return await _group_outs(uow, rows), next_cursor


async def get_group(uow: UnitOfWork, p: Principal, group_id: uuid.UUID) -> GroupOut:
    return (await _group_outs(uow, [await _group(uow, p, group_id, SpaceAction.read)]))[0]


async def update_group(uow: UnitOfWork, p: Principal, group_id: uuid.UUID, data: GroupUpdate,
                       settings: Settings) -> GroupOut:
    group = await _group(uow, p, group_id, SpaceAction.edit_content, lock=True)
    if data.name is not None:
        group.name = data.name
    if data.description is not None:
        group.description = data.description
    work: list[dict[str, Any]] = []
    if data.embedding_model_id is not None and data.embedding_model_id != group.embedding_model_id:
        group.embedding_model_id = await _usable_model_id(uow, p, data.embedding_model_id)
        work = await _reset_vectors(uow, group, settings)
    await uow.session.flush()
    out = (await _group_outs(uow, [group]))[0]
    await uow.commit()
    if work:
        await _queue_embedding(uow, group, work, settings)
    return out


async def _reset_vectors(uow: UnitOfWork, group: Group, settings: Settings) -> list[dict[str, Any]]:
    """Clear the collection's vectors and return the embed-queue messages that make them again."""
    session, model_id = uow.session, group.embedding_model_id
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


async def _queue_embedding(uow: UnitOfWork, group: Group, work: list[dict[str, Any]], settings: Settings) -> None:
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


async def delete_group(uow: UnitOfWork, p: Principal, group_id: uuid.UUID) -> None:
    """The collection, its documents, chunks and vectors; then its objects in storage."""
    group = await _group(uow, p, group_id, SpaceAction.edit_content)
    prefix = storage.group_prefix(group.tenant_id, group.id)
    await uow.session.delete(group)
    await uow.commit()
    await asyncio.to_thread(storage.delete_prefix, prefix)


# --- documents -------------------------------------------------------------------------------------


def blob_out(b: InfoBlob) -> InfoBlobOut:
    return InfoBlobOut.model_validate(b, from_attributes=True)


async def list_blobs(uow: UnitOfWork, p: Principal, group_id: uuid.UUID, *, status: InfoBlobStatus | None,
                     limit: int, cursor: str | None, settings: Settings | None = None
                     ) -> tuple[list[InfoBlobOut], str | None]:
    group = await _group(uow, p, group_id, SpaceAction.read)
    query = select(InfoBlob).where(InfoBlob.group_id == group.id, InfoBlob.tenant_id == p.tenant_id)
    if status is not None:
        query = query.where(InfoBlob.status == status)
    rows, next_cursor = await paginate(uow.session, query, InfoBlob, limit=limit, cursor=cursor)
    settings = settings or get_settings()
    rows = await notice_arrived_uploads(uow, await expire_lost_uploads(uow, rows, settings), settings)
    return [blob_out(b) for b in rows], next_cursor


async def get_blob(uow: UnitOfWork, p: Principal, blob_id: uuid.UUID, settings: Settings | None = None
                   ) -> InfoBlobOut:
    blob = await _blob(uow, p, blob_id, SpaceAction.read)
    settings = settings or get_settings()
    return blob_out((await notice_arrived_uploads(uow, await expire_lost_uploads(uow, [blob], settings),
                                                  settings))[0])


async def get_passage(uow: UnitOfWork, p: Principal, blob_id: uuid.UUID, chunk_index: int) -> PassageOut:
    """The cited passage, for whoever may read the document (a member of its space); 404 otherwise, and for
    a passage the document no longer has (it was ingested again and split differently)."""
    blob = await _blob(uow, p, blob_id, SpaceAction.read)
    chunk = await uow.session.scalar(select(Chunk).where(
        Chunk.info_blob_id == blob.id, Chunk.chunk_index == chunk_index, Chunk.tenant_id == p.tenant_id))
    if chunk is None:
        raise NotFound("Passage")
    space_id = await uow.session.scalar(select(Group.space_id).where(Group.id == blob.group_id,
                                                                     Group.tenant_id == p.tenant_id))
    assert space_id is not None, "_blob found the document through its group"
    return PassageOut(info_blob_id=blob.id, title=blob.title, filename=blob.filename, group_id=blob.group_id,
                      space_id=space_id, chunk_index=chunk.chunk_index, page=chunk.page, text=chunk.text)


UPLOAD_GRACE = timedelta(minutes=5)  # a POST started just before its link expired may still be arriving


async def expire_lost_uploads(uow: UnitOfWork, blobs: Sequence[InfoBlob], settings: Settings) -> list[InfoBlob]:
    """Fail, when read, the documents whose presigned upload never arrived (`upload_expired`); otherwise
    they would say `uploading` for ever. Lazy like eneo.answers.service.abandon_if_lost; the ingestion sweep
    and the local stack's start apply it too (eneo.ingestion.recovery), so nobody has to read them.

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


async def rename_blob(uow: UnitOfWork, p: Principal, blob_id: uuid.UUID, data: InfoBlobUpdate) -> InfoBlobOut:
    blob = await _blob(uow, p, blob_id, SpaceAction.edit_content)
    blob.title = data.title
    await uow.session.flush()
    await uow.commit()
    return blob_out(blob)


async def delete_blob(uow: UnitOfWork, p: Principal, blob_id: uuid.UUID) -> None:
    """The row with its chunks and vectors (cascade, one transaction); then the object."""
    blob = await _blob(uow, p, blob_id, SpaceAction.edit_content)
    key = blob.object_key
    await uow.session.delete(blob)
    await uow.commit()
    await asyncio.to_thread(storage.delete_object, key)


def _new_blob(p: Principal, group: Group, *, title: str | None, filename: str, declared_type: str) -> InfoBlob:
    blob_id = new_id()
    return InfoBlob(id=blob_id, tenant_id=p.tenant_id, group_id=group.id, uploaded_by=p.user_id,
                    title=(title or filename)[:500], filename=filename[:255], declared_type=declared_type[:200],
                    object_key=storage.object_key(p.tenant_id, group.id, blob_id), status=InfoBlobStatus.uploading,
                    chunks_total=0, chunks_embedded=0, attempts=0)


async def create_upload_url(uow: UnitOfWork, p: Principal, group_id: uuid.UUID, data: UploadUrlRequest,
                            settings: Settings) -> UploadUrlOut:
    """A document row (status uploading) and a presigned POST that storage holds to the type's size limit
    and exact media type; the object's S3 event starts ingestion."""
    group = await _group(uow, p, group_id, SpaceAction.edit_content)
    accepted = accepted_for(data.content_type, data.filename)
    if accepted is None:
        raise unsupported(reason="This file type is not accepted")
    if data.size_bytes > accepted.max_bytes(settings):
        raise too_large(accepted, settings)
    blob = _new_blob(p, group, title=data.title, filename=data.filename, declared_type=data.content_type)
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
                 declared_type: str | None, title: str | None, settings: Settings) -> tuple[UploadOut, bool]:
    """Store a document sent in the request. Returns (the document, started): started is False when the
    collection has the same content in a `ready` document (returned, marked `duplicate`). The same content
    in a document that has not finished resumes that one (`resumed`, see `_resume_upload`)."""
    from eneo.knowledge.extract import ExtractionError, detect

    group = await _group(uow, p, group_id, SpaceAction.edit_content)
    try:
        doc_type = detect(data, filename, declared_type)
    except ExtractionError as exc:
        if exc.code == "empty":
            raise _invalid("file", "the file is empty") from None
        raise unsupported(exc.code, exc.message) from None
    if len(data) > doc_type.accepted.max_bytes(settings):
        raise too_large(doc_type.accepted, settings)
    content_hash = hashlib.sha256(data).hexdigest()
    if (existing := await _duplicate(uow, group, content_hash)) is not None:
        return await _existing_content(uow, p, existing, data, doc_type.media_type, settings)
    blob = _new_blob(p, group, title=title, filename=filename, declared_type=declared_type or doc_type.media_type)
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
    blob = await _blob(uow, p, existing.id, SpaceAction.edit_content, lock=True)  # as it is now, locked
    if blob.status == InfoBlobStatus.ready:
        return UploadOut(**blob_out(blob).model_dump(), duplicate=True), False
    return await _resume_upload(uow, blob, data, media_type, settings), True


async def _resume_upload(uow: UnitOfWork, blob: InfoBlob, data: bytes, media_type: str, settings: Settings
                         ) -> UploadOut:
    """Someone uploads again the bytes of a document that has not finished (stranded by a restart, say):
    it starts over (`_start_over`), and the bytes are stored again under its key, whose S3 event starts
    ingestion, so a file that never reached storage is repaired too. Harmless if it was in fact moving
    (see `retry`). If the bytes cannot be stored it is failed, retryable, and the caller gets 503."""
    await _start_over(uow, blob)
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


STUCK = ("retries_exhausted", "The document stopped making progress and could not be queued again; retry it")


def _retryable(blob: InfoBlob) -> None:
    """Every document but a `ready` one: failed ones, and any that has not finished, at any time (see `retry`)."""
    if blob.status == InfoBlobStatus.ready:
        raise Conflict("This document is ready; only one that failed or has not finished can be retried",
                       code="not_failed")


async def _start_over(uow: UnitOfWork, blob: InfoBlob) -> None:
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
    blob = await _blob(uow, p, blob_id, SpaceAction.edit_content, lock=True)
    _retryable(blob)
    previous = (blob.error_code, blob.error_message) if blob.status == InfoBlobStatus.failed else STUCK
    await _start_over(uow, blob)
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
