"""Space use cases. Every function takes the caller and checks `policy` before touching data."""

import asyncio
import uuid
from collections.abc import Sequence

from sqlalchemy import func, select

from eneo.auth.principal import Principal
from eneo.classifications.models import SecurityClassification
from eneo.classifications.schemas import Stopped
from eneo.classifications.service import blocked, chosen_level, newly_stopped, ref
from eneo.core import storage
from eneo.core.db import UnitOfWork
from eneo.core.errors import BadRequest, Conflict, NotFound
from eneo.core.pagination import paginate
from eneo.knowledge.models import Group
from eneo.permissions.models import SpaceGroupMember, UserGroup
from eneo.spaces.access import SpaceAccess
from eneo.spaces.models import Space, SpaceMember, SpaceRole
from eneo.spaces.policy import SpaceAction, require
from eneo.spaces.schemas import (
    GroupMemberOut,
    MemberAdd,
    MemberOut,
    SpaceCreate,
    SpaceDetail,
    SpaceOut,
    SpaceUpdate,
    SpaceUpdated,
)
from eneo.users.models import User, UserState


def _out(space: Space, role: SpaceRole, level: SecurityClassification | None) -> SpaceOut:
    return SpaceOut(id=space.id, name=space.name, description=space.description, personal=space.personal,
                    my_role=role, security_classification=ref(level), created_at=space.created_at,
                    updated_at=space.updated_at)


async def _levels(uow: UnitOfWork, p: Principal, spaces: Sequence[Space]) -> dict[uuid.UUID, SecurityClassification]:
    ids = {s.security_classification_id for s in spaces if s.security_classification_id}
    if not ids:
        return {}
    return {lv.id: lv for lv in await uow.session.scalars(select(SecurityClassification).where(
        SecurityClassification.id.in_(ids), SecurityClassification.tenant_id == p.tenant_id))}


async def _membership(uow: UnitOfWork, p: Principal, space_id: uuid.UUID) -> tuple[Space, SpaceRole]:
    row = (await uow.session.execute(
        select(Space, SpaceAccess.role)
        .join(SpaceAccess, (SpaceAccess.space_id == Space.id) & (SpaceAccess.user_id == p.user_id))
        .where(Space.id == space_id, Space.tenant_id == p.tenant_id)
    )).first()
    if row is None:
        raise NotFound("Space")
    return row[0], row[1]


async def authorize(uow: UnitOfWork, p: Principal, space_id: uuid.UUID, action: SpaceAction) -> Space:
    """The space, if the caller may do `action` in it (for this and later domains' services)."""
    space, role = await _membership(uow, p, space_id)
    require(role, action)
    return space


async def create_personal_space(uow: UnitOfWork, user: User) -> Space:
    space = Space(tenant_id=user.tenant_id, name="Personal", description="", personal=True, owner_id=user.id)
    uow.session.add(space)
    await uow.session.flush()
    uow.session.add(SpaceMember(space_id=space.id, user_id=user.id, tenant_id=user.tenant_id,
                                role=SpaceRole.admin))
    return space


async def create_space(uow: UnitOfWork, p: Principal, data: SpaceCreate) -> SpaceOut:
    space = Space(tenant_id=p.tenant_id, name=data.name, description=data.description, personal=False)
    uow.session.add(space)
    await uow.session.flush()
    uow.session.add(SpaceMember(space_id=space.id, user_id=p.user_id, tenant_id=p.tenant_id,
                                role=SpaceRole.admin))
    await uow.session.flush()
    return _out(space, SpaceRole.admin, None)


async def list_spaces(uow: UnitOfWork, p: Principal, *, limit: int, cursor: str | None
                      ) -> tuple[list[SpaceOut], str | None]:
    mine = select(SpaceAccess.space_id).where(SpaceAccess.user_id == p.user_id,
                                              SpaceAccess.tenant_id == p.tenant_id)
    spaces, next_cursor = await paginate(
        uow.session, select(Space).where(Space.tenant_id == p.tenant_id, Space.id.in_(mine)), Space,
        limit=limit, cursor=cursor,
    )
    roles: dict[uuid.UUID, SpaceRole] = dict((await uow.session.execute(
        select(SpaceAccess.space_id, SpaceAccess.role).where(
            SpaceAccess.user_id == p.user_id, SpaceAccess.space_id.in_([s.id for s in spaces]))
    )).all())
    levels = await _levels(uow, p, spaces)
    return [_out(s, roles[s.id], levels.get(s.security_classification_id)
                 ) for s in spaces], next_cursor


async def _members(uow: UnitOfWork, p: Principal, space_id: uuid.UUID) -> list[MemberOut]:
    rows = await uow.session.execute(
        select(SpaceMember.user_id, User.email, User.name, SpaceMember.role)
        .join(User, User.id == SpaceMember.user_id)
        .where(SpaceMember.space_id == space_id, SpaceMember.tenant_id == p.tenant_id)
        .order_by(User.email)
    )
    return [MemberOut(user_id=r[0], email=r[1], name=r[2], role=r[3]) for r in rows]


async def _group_members(uow: UnitOfWork, p: Principal, space_id: uuid.UUID) -> list[GroupMemberOut]:
    rows = await uow.session.execute(
        select(SpaceGroupMember.group_id, UserGroup.name, SpaceGroupMember.role)
        .join(UserGroup, UserGroup.id == SpaceGroupMember.group_id)
        .where(SpaceGroupMember.space_id == space_id, SpaceGroupMember.tenant_id == p.tenant_id)
        .order_by(UserGroup.name))
    return [GroupMemberOut(group_id=r[0], name=r[1], role=r[2]) for r in rows]


async def get_space(uow: UnitOfWork, p: Principal, space_id: uuid.UUID) -> SpaceDetail:
    space, role = await _membership(uow, p, space_id)
    require(role, SpaceAction.read)
    levels = await _levels(uow, p, [space])
    return SpaceDetail(**_out(space, role, levels.get(space.security_classification_id)  # type: ignore[arg-type]
                              ).model_dump(), members=await _members(uow, p, space_id),
                       group_members=await _group_members(uow, p, space_id))


async def update_space(uow: UnitOfWork, p: Principal, space_id: uuid.UUID, data: SpaceUpdate) -> SpaceUpdated:
    """Space admins rename, describe and classify; a new level answers which assistants it stopped."""
    space = await authorize(uow, p, space_id, SpaceAction.update)
    changes = data.model_dump(exclude_unset=True)
    for field in ("name", "description"):
        if changes.get(field) is not None:
            setattr(space, field, changes[field])
    stopped = Stopped()
    if "security_classification_id" in changes:
        level = await chosen_level(uow.session, p.tenant_id, data.security_classification_id)
        before = await blocked(uow.session, p.tenant_id)
        space.security_classification_id = level.id if level else None
        await uow.session.flush()
        stopped = newly_stopped(before, await blocked(uow.session, p.tenant_id))
    await uow.session.flush()
    return SpaceUpdated(**(await get_space(uow, p, space_id)).model_dump(), **dict(stopped))


async def delete_space(uow: UnitOfWork, p: Principal, space_id: uuid.UUID) -> None:
    space = await authorize(uow, p, space_id, SpaceAction.delete)
    if space.personal:
        raise Conflict("A personal space is deleted only with its user", code="personal_space")
    group_ids = (await uow.session.scalars(
        select(Group.id).where(Group.space_id == space.id, Group.tenant_id == p.tenant_id))).all()
    await uow.session.delete(space)
    await uow.commit()  # before the files go: only a deletion that holds removes them
    await delete_collection_files(p.tenant_id, group_ids)


async def delete_collection_files(tenant_id: uuid.UUID, group_ids: Sequence[uuid.UUID]) -> None:
    """Remove the stored files of collections whose rows are gone (the space's delete cascades to its
    collections, documents and chunks; the files are not rows). After the commit, like a collection's
    own delete: a failure leaves unreachable files (logged by prefix), never documents without bytes."""
    for group_id in group_ids:
        await asyncio.to_thread(storage.delete_prefix, storage.group_prefix(tenant_id, group_id))


async def _shared_space_for_members(uow: UnitOfWork, p: Principal, space_id: uuid.UUID) -> Space:
    space = await authorize(uow, p, space_id, SpaceAction.manage_members)
    if space.personal:
        raise BadRequest("A personal space has no other members", code="personal_space")
    return space


async def _member(uow: UnitOfWork, p: Principal, space_id: uuid.UUID, user_id: uuid.UUID) -> SpaceMember:
    member = await uow.session.get(SpaceMember, (space_id, user_id))
    if member is None or member.tenant_id != p.tenant_id:
        raise NotFound("Member")
    return member


async def _ensure_another_admin(uow: UnitOfWork, space_id: uuid.UUID, leaving: uuid.UUID) -> None:
    others = await uow.session.scalar(
        select(func.count()).select_from(SpaceMember).where(
            SpaceMember.space_id == space_id, SpaceMember.role == SpaceRole.admin, SpaceMember.user_id != leaving)
    )
    if not others:
        raise Conflict("A space needs at least one admin; make someone else admin first", code="last_space_admin")


async def add_member(uow: UnitOfWork, p: Principal, space_id: uuid.UUID, data: MemberAdd) -> SpaceDetail:
    await _shared_space_for_members(uow, p, space_id)
    # Only the caller's tenant is searched: an e-mail of another tenant's user is "not found" like an unknown one.
    who = User.id == data.user_id if data.user_id is not None else User.email == str(data.email).strip().lower()
    user = await uow.session.scalar(select(User).where(who, User.tenant_id == p.tenant_id))
    if user is None:
        raise NotFound("User")
    if user.state == UserState.deactivated:
        raise Conflict("A deactivated user cannot join a space", code="user_deactivated")
    if await uow.session.get(SpaceMember, (space_id, user.id)) is not None:
        raise Conflict("The user is already a member; change their role instead", code="already_member")
    uow.session.add(SpaceMember(space_id=space_id, user_id=user.id, tenant_id=p.tenant_id, role=data.role))
    await uow.session.flush()
    return await get_space(uow, p, space_id)


async def update_member(uow: UnitOfWork, p: Principal, space_id: uuid.UUID, user_id: uuid.UUID,
                        role: SpaceRole) -> SpaceDetail:
    await _shared_space_for_members(uow, p, space_id)
    member = await _member(uow, p, space_id, user_id)
    if member.role == SpaceRole.admin and role != SpaceRole.admin:
        await _ensure_another_admin(uow, space_id, user_id)
    member.role = role
    await uow.session.flush()
    return await get_space(uow, p, space_id)


async def remove_member(uow: UnitOfWork, p: Principal, space_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Admins remove anyone; any member may leave (but not the last admin)."""
    if user_id == p.user_id:
        space, _ = await _membership(uow, p, space_id)
        if space.personal:
            raise BadRequest("You cannot leave your personal space", code="personal_space")
    else:
        await _shared_space_for_members(uow, p, space_id)
    member = await _member(uow, p, space_id, user_id)
    if member.role == SpaceRole.admin:
        await _ensure_another_admin(uow, space_id, user_id)
    await uow.session.delete(member)
    await uow.session.flush()


async def add_group(uow: UnitOfWork, p: Principal, space_id: uuid.UUID, group_id: uuid.UUID, role: SpaceRole
                    ) -> SpaceDetail:
    """Make a user group a member: its members get at least `role` (space admins; not personal spaces)."""
    await _shared_space_for_members(uow, p, space_id)
    group = await uow.session.scalar(select(UserGroup).where(UserGroup.id == group_id,
                                                             UserGroup.tenant_id == p.tenant_id))
    if group is None:
        raise NotFound("User group")
    if await uow.session.get(SpaceGroupMember, (space_id, group.id)) is not None:
        raise Conflict("The group is already a member; change its role instead", code="already_member")
    uow.session.add(SpaceGroupMember(space_id=space_id, group_id=group.id, tenant_id=p.tenant_id, role=role))
    await uow.session.flush()
    return await get_space(uow, p, space_id)


async def _group_member(uow: UnitOfWork, p: Principal, space_id: uuid.UUID, group_id: uuid.UUID
                        ) -> SpaceGroupMember:
    member = await uow.session.get(SpaceGroupMember, (space_id, group_id))
    if member is None or member.tenant_id != p.tenant_id:
        raise NotFound("Group member")
    return member


async def update_group(uow: UnitOfWork, p: Principal, space_id: uuid.UUID, group_id: uuid.UUID, role: SpaceRole
                       ) -> SpaceDetail:
    await _shared_space_for_members(uow, p, space_id)
    (await _group_member(uow, p, space_id, group_id)).role = role
    await uow.session.flush()
    return await get_space(uow, p, space_id)


async def remove_group(uow: UnitOfWork, p: Principal, space_id: uuid.UUID, group_id: uuid.UUID) -> None:
    """A space always keeps a direct admin (eneo.spaces.service._ensure_another_admin), so removing a
    group never leaves it without one."""
    await _shared_space_for_members(uow, p, space_id)
    await uow.session.delete(await _group_member(uow, p, space_id, group_id))
    await uow.session.flush()
