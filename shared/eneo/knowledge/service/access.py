"""Look-ups with access checks, and what every knowledge use case shares.

Access follows the space: a member reads; an editor or admin of the space (or a tenant admin who is a
member) changes content. A collection or document the caller may not see, in this tenant or another,
is a 404 that says nothing of its existence.
"""

import uuid
from typing import TypeVar

from sqlalchemy import Select, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from eneo.auth.principal import Principal
from eneo.core.db import UnitOfWork
from eneo.core.errors import AppError, NotFound, ValidationFailed
from eneo.knowledge.models import Group, InfoBlob
from eneo.knowledge.schemas import InfoBlobOut
from eneo.permissions.policy import overrides_space_roles
from eneo.spaces.access import SpaceAccess
from eneo.spaces.models import Space, SpaceRole
from eneo.spaces.policy import SpaceAction, require

_Q = TypeVar("_Q", bound=Select)


class StorageUnavailable(AppError):
    status, code = 503, "storage_unavailable"


def invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"Invalid request: {field}: {message}",
                            details=[{"field": field, "message": message, "type": "value_error"}])


def blob_out(b: InfoBlob) -> InfoBlobOut:
    return InfoBlobOut.model_validate(b, from_attributes=True)


def require_role(p: Principal, role: SpaceRole, action: SpaceAction) -> None:
    """The space role decides; a user administrator who is a member may also change content."""
    if action == SpaceAction.edit_content and overrides_space_roles(p):
        return
    require(role, action)


def _member_join(query: _Q, p: Principal) -> _Q:
    return query.join(SpaceAccess, and_(SpaceAccess.space_id == Group.space_id, SpaceAccess.user_id == p.user_id))


async def space_role(uow: UnitOfWork, p: Principal, space_id: uuid.UUID) -> SpaceRole:
    """The caller's role in the space; 404 for non-members and other tenants."""
    role = await uow.session.scalar(select(SpaceAccess.role).join(Space, Space.id == SpaceAccess.space_id).where(
        Space.id == space_id, Space.tenant_id == p.tenant_id, SpaceAccess.user_id == p.user_id))
    if role is None:
        raise NotFound("Space")
    return role


async def group_for(uow: UnitOfWork, p: Principal, group_id: uuid.UUID, action: SpaceAction, *, lock: bool = False
                    ) -> Group:
    query = _member_join(select(Group, SpaceAccess.role), p).where(Group.id == group_id,
                                                                   Group.tenant_id == p.tenant_id,
                                                                   Group.kind == "collection")  # not a website's
    row = (await uow.session.execute(query.with_for_update(of=Group) if lock else query)).first()
    if row is None:
        raise NotFound("Collection")
    require_role(p, row[1], action)
    return row[0]


async def blob_for(uow: UnitOfWork, p: Principal, blob_id: uuid.UUID, action: SpaceAction, *, lock: bool = False
                   ) -> InfoBlob:
    query = (_member_join(select(InfoBlob, SpaceAccess.role).join(Group, Group.id == InfoBlob.group_id), p)
             .where(InfoBlob.id == blob_id, InfoBlob.tenant_id == p.tenant_id))
    row = (await uow.session.execute(query.with_for_update(of=InfoBlob) if lock else query)).first()
    if row is None:
        raise NotFound("Document")
    require_role(p, row[1], action)
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
