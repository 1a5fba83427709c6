"""Documents (`InfoBlob` rows) of a collection: list, read, cite a passage, rename, delete.

Deleting removes the row with its chunks and vectors (cascade, one transaction) and the object after
the commit: a failed object delete leaves an unreachable object (logged by key), never a document whose
bytes are gone.
"""

import asyncio
import uuid

from sqlalchemy import select

from eneo.auth.principal import Principal
from eneo.core import storage
from eneo.core.db import UnitOfWork
from eneo.core.errors import NotFound
from eneo.core.pagination import paginate
from eneo.core.settings import Settings, get_settings
from eneo.knowledge.models import Chunk, Group, InfoBlob, InfoBlobStatus
from eneo.knowledge.schemas import InfoBlobOut, InfoBlobUpdate, PassageOut
from eneo.knowledge.service.access import blob_for, blob_out, group_for
from eneo.knowledge.service.lost_uploads import settle_uploads
from eneo.spaces.policy import SpaceAction


async def list_blobs(uow: UnitOfWork, p: Principal, group_id: uuid.UUID, *, status: InfoBlobStatus | None,
                     limit: int, cursor: str | None, settings: Settings | None = None
                     ) -> tuple[list[InfoBlobOut], str | None]:
    group = await group_for(uow, p, group_id, SpaceAction.read)
    query = select(InfoBlob).where(InfoBlob.group_id == group.id, InfoBlob.tenant_id == p.tenant_id)
    if status is not None:
        query = query.where(InfoBlob.status == status)
    rows, next_cursor = await paginate(uow.session, query, InfoBlob, limit=limit, cursor=cursor)
    rows = await settle_uploads(uow, rows, settings or get_settings())
    return [blob_out(b) for b in rows], next_cursor


async def get_blob(uow: UnitOfWork, p: Principal, blob_id: uuid.UUID, settings: Settings | None = None
                   ) -> InfoBlobOut:
    blob = await blob_for(uow, p, blob_id, SpaceAction.read)
    return blob_out((await settle_uploads(uow, [blob], settings or get_settings()))[0])


async def get_passage(uow: UnitOfWork, p: Principal, blob_id: uuid.UUID, chunk_index: int) -> PassageOut:
    """The cited passage, for whoever may read the document (a member of its space); 404 otherwise, and for
    a passage the document no longer has (it was ingested again and split differently)."""
    blob = await blob_for(uow, p, blob_id, SpaceAction.read)
    chunk = await uow.session.scalar(select(Chunk).where(
        Chunk.info_blob_id == blob.id, Chunk.chunk_index == chunk_index, Chunk.tenant_id == p.tenant_id))
    if chunk is None:
        raise NotFound("Passage")
    space_id = await uow.session.scalar(select(Group.space_id).where(Group.id == blob.group_id,
                                                                     Group.tenant_id == p.tenant_id))
    assert space_id is not None, "blob_for found the document through its group"
    return PassageOut(info_blob_id=blob.id, title=blob.title, filename=blob.filename, group_id=blob.group_id,
                      space_id=space_id, chunk_index=chunk.chunk_index, page=chunk.page, text=chunk.text,
                      source_url=blob.source_url)


async def rename_blob(uow: UnitOfWork, p: Principal, blob_id: uuid.UUID, data: InfoBlobUpdate) -> InfoBlobOut:
    blob = await blob_for(uow, p, blob_id, SpaceAction.edit_content)
    blob.title = data.title
    await uow.session.flush()
    await uow.commit()
    return blob_out(blob)


async def delete_blob(uow: UnitOfWork, p: Principal, blob_id: uuid.UUID) -> None:
    """The row with its chunks and vectors (cascade, one transaction); then the object."""
    blob = await blob_for(uow, p, blob_id, SpaceAction.edit_content)
    key = blob.object_key
    await uow.session.delete(blob)
    await uow.commit()
    await asyncio.to_thread(storage.delete_object, key)
