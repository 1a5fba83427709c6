"""Collections (`Group` rows) in a space: create, list, read, change, delete.

Deleting removes the rows first (documents, chunks and vectors go by cascade, in one transaction) and
the objects after the commit: a failed object delete leaves unreachable objects, never a document
whose bytes are gone.
"""

import asyncio
import uuid
from typing import Any

from sqlalchemy import func, select

from eneo.auth.principal import Principal
from eneo.classifications.knowledge import check_embedding_for_space
from eneo.core import storage
from eneo.core.db import UnitOfWork
from eneo.core.ids import new_id
from eneo.core.pagination import paginate
from eneo.core.settings import Settings
from eneo.knowledge.models import Group, InfoBlob, InfoBlobStatus
from eneo.knowledge.schemas import GroupCreate, GroupOut, GroupUpdate
from eneo.knowledge.service.access import group_for, invalid, require_role, space_role
from eneo.knowledge.service.reembedding import queue_embedding, reset_vectors
from eneo.model_providers.embedding_service import default_embedding_model, usable_embedding_model
from eneo.permissions.model_access import require_model_access
from eneo.spaces.policy import SpaceAction


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
                            documents_ready=ready, documents_failed=failed,
                            vectors_outdated=g.document_purpose != "document", created_at=g.created_at,
                            updated_at=g.updated_at))
    return out


async def usable_model_id(uow: UnitOfWork, p: Principal, space_id: uuid.UUID, model_id: uuid.UUID | None
                          ) -> uuid.UUID:
    """The embedding model a collection (or website) of the space may use: the one named, else the default;
    422 on `embedding_model_id` for none, a disabled one, or one classified below the space."""
    if model_id is None:
        try:
            model = await default_embedding_model(uow.session, p.tenant_id)
        except LookupError:
            raise invalid("embedding_model_id", "required: this organisation has no enabled embedding model") \
                from None
    else:
        found = await usable_embedding_model(uow.session, p.tenant_id, model_id)
        if found is None:
            raise invalid("embedding_model_id", "no enabled embedding model with this id")
        model = found
    await check_embedding_for_space(uow.session, p.tenant_id, space_id, model, field="embedding_model_id")
    await require_model_access(uow, p.user_id, "embedding", model.name, model.allowed_group_ids)
    return model.id


async def create_group(uow: UnitOfWork, p: Principal, space_id: uuid.UUID, data: GroupCreate) -> GroupOut:
    require_role(p, await space_role(uow, p, space_id), SpaceAction.edit_content)
    group = Group(id=new_id(), tenant_id=p.tenant_id, space_id=space_id, name=data.name,
                  description=data.description, embedding_model_id=await usable_model_id(uow, p, space_id,
                                                                                       data.embedding_model_id),
                  created_by=p.user_id)
    uow.session.add(group)
    await uow.session.flush()
    out = (await _group_outs(uow, [group]))[0]
    await uow.commit()
    return out


async def list_groups(uow: UnitOfWork, p: Principal, space_id: uuid.UUID, *, limit: int, cursor: str | None
                      ) -> tuple[list[GroupOut], str | None]:
    require_role(p, await space_role(uow, p, space_id), SpaceAction.read)
    rows, next_cursor = await paginate(uow.session, select(Group).where(
        Group.space_id == space_id, Group.tenant_id == p.tenant_id, Group.kind == "collection"), Group, limit=limit,
        cursor=cursor)
    return await _group_outs(uow, rows), next_cursor


async def get_group(uow: UnitOfWork, p: Principal, group_id: uuid.UUID) -> GroupOut:
    return (await _group_outs(uow, [await group_for(uow, p, group_id, SpaceAction.read)]))[0]


async def update_group(uow: UnitOfWork, p: Principal, group_id: uuid.UUID, data: GroupUpdate,
                       settings: Settings) -> GroupOut:
    """Rename, describe, or move to another embedding model (eneo.knowledge.service.reembedding). Its own
    model re-embeds a collection whose vectors are outdated (`vectors_outdated`), else changes nothing."""
    group = await group_for(uow, p, group_id, SpaceAction.edit_content, lock=True)
    if data.name is not None:
        group.name = data.name
    if data.description is not None:
        group.description = data.description
    work: list[dict[str, Any]] = []
    if data.embedding_model_id is not None and (data.embedding_model_id != group.embedding_model_id
                                                or group.document_purpose != "document"):
        group.embedding_model_id = await usable_model_id(uow, p, group.space_id, data.embedding_model_id)
        work = await reset_vectors(uow, group, settings)
    await uow.session.flush()
    out = (await _group_outs(uow, [group]))[0]
    await uow.commit()
    if work:
        await queue_embedding(uow, group, work, settings)
    return out


async def delete_group(uow: UnitOfWork, p: Principal, group_id: uuid.UUID) -> None:
    """The collection, its documents, chunks and vectors; then its objects in storage."""
    group = await group_for(uow, p, group_id, SpaceAction.edit_content)
    prefix = storage.group_prefix(group.tenant_id, group.id)
    await uow.session.delete(group)
    await uow.commit()
    await asyncio.to_thread(storage.delete_prefix, prefix)
