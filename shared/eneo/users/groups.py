"""User groups: named sets of a tenant's users. A group can be a member of spaces (each of its members then
has at least the group's role there, eneo.spaces.access) and can be the audience a model is limited to
(`allowed_group_ids`, eneo.permissions.models_access). Every change is an audit entry."""

import uuid

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from eneo.audit.service import Target, record
from eneo.auth.principal import Principal
from eneo.core.db import UnitOfWork
from eneo.core.errors import Conflict, NotFound
from eneo.core.pagination import paginate
from eneo.permissions.models import UserGroup, UserGroupMember
from eneo.permissions.schemas import GroupMemberOut, UserGroupCreate, UserGroupDetail, UserGroupOut, UserGroupUpdate
from eneo.users.models import User, UserState


async def _counts(uow: UnitOfWork, ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    if not ids:
        return {}
    rows = await uow.session.execute(select(UserGroupMember.group_id, func.count()).where(
        UserGroupMember.group_id.in_(ids)).group_by(UserGroupMember.group_id))
    return {g: int(n) for g, n in rows.tuples()}


def _out(group: UserGroup, count: int) -> UserGroupOut:
    return UserGroupOut(id=group.id, name=group.name, member_count=count, created_at=group.created_at,
                        updated_at=group.updated_at)


async def list_groups(uow: UnitOfWork, p: Principal, *, limit: int, cursor: str | None
                      ) -> tuple[list[UserGroupOut], str | None]:
    rows, next_cursor = await paginate(uow.session, select(UserGroup).where(UserGroup.tenant_id == p.tenant_id),
                                       UserGroup, limit=limit, cursor=cursor)
    counts = await _counts(uow, [g.id for g in rows])
    return [_out(g, counts.get(g.id, 0)) for g in rows], next_cursor


async def _group(uow: UnitOfWork, p: Principal, group_id: uuid.UUID, *, lock: bool = False) -> UserGroup:
    query = select(UserGroup).where(UserGroup.id == group_id, UserGroup.tenant_id == p.tenant_id)
    group = await uow.session.scalar(query.with_for_update() if lock else query)
    if group is None:
        raise NotFound("User group")
    return group


async def get_group(uow: UnitOfWork, p: Principal, group_id: uuid.UUID) -> UserGroupDetail:
    group = await _group(uow, p, group_id)
    rows = (await uow.session.execute(
        select(User.id, User.email, User.name).join(UserGroupMember, UserGroupMember.user_id == User.id)
        .where(UserGroupMember.group_id == group.id, User.tenant_id == p.tenant_id).order_by(User.email))).all()
    members = [GroupMemberOut(user_id=r[0], email=r[1], name=r[2]) for r in rows]
    return UserGroupDetail(**_out(group, len(members)).model_dump(), members=members)


async def _flush_named(uow: UnitOfWork) -> None:
    try:
        await uow.session.flush()
    except IntegrityError:
        await uow.rollback()
        raise Conflict("A user group with this name already exists", code="user_group_name_taken") from None


async def create_group(uow: UnitOfWork, p: Principal, data: UserGroupCreate) -> UserGroupDetail:
    group = UserGroup(tenant_id=p.tenant_id, name=data.name)
    uow.session.add(group)
    await _flush_named(uow)
    record(uow, p, "user_group.created", Target("user_group", group.id, group.name))
    return UserGroupDetail(**_out(group, 0).model_dump(), members=[])


async def update_group(uow: UnitOfWork, p: Principal, group_id: uuid.UUID, data: UserGroupUpdate) -> UserGroupDetail:
    group = await _group(uow, p, group_id, lock=True)
    group.name = data.name
    await _flush_named(uow)
    record(uow, p, "user_group.updated", Target("user_group", group.id, group.name), details={"changed": ["name"]})
    return await get_group(uow, p, group_id)


async def delete_group(uow: UnitOfWork, p: Principal, group_id: uuid.UUID) -> None:
    """Its members lose the space roles they had through it; models limited to it keep their other groups."""
    group = await _group(uow, p, group_id, lock=True)
    await uow.session.delete(group)
    record(uow, p, "user_group.deleted", Target("user_group", group.id, group.name))


async def add_member(uow: UnitOfWork, p: Principal, group_id: uuid.UUID, user_id: uuid.UUID) -> UserGroupDetail:
    group = await _group(uow, p, group_id, lock=True)
    user = await uow.session.scalar(select(User).where(User.id == user_id, User.tenant_id == p.tenant_id))
    if user is None:
        raise NotFound("User")
    if user.state == UserState.deactivated:
        raise Conflict("A deactivated user cannot join a group", code="user_deactivated")
    if await uow.session.get(UserGroupMember, (group.id, user.id)) is not None:
        raise Conflict("The user is already a member of this group", code="already_member")
    uow.session.add(UserGroupMember(group_id=group.id, user_id=user.id, tenant_id=p.tenant_id))
    await uow.session.flush()
    record(uow, p, "user_group.member_added", Target("user", user.id, user.email),
           details={"user_group_id": str(group.id), "user_group": group.name})
    return await get_group(uow, p, group_id)


async def remove_member(uow: UnitOfWork, p: Principal, group_id: uuid.UUID, user_id: uuid.UUID) -> None:
    group = await _group(uow, p, group_id, lock=True)
    member = await uow.session.get(UserGroupMember, (group.id, user_id))
    if member is None or member.tenant_id != p.tenant_id:
        raise NotFound("Member")
    await uow.session.delete(member)
    record(uow, p, "user_group.member_removed", Target("user", user_id),
           details={"user_group_id": str(group.id), "user_group": group.name})


async def group_ids_of(uow: UnitOfWork, tenant_id: uuid.UUID, user_id: uuid.UUID) -> set[uuid.UUID]:
    return set((await uow.session.scalars(select(UserGroupMember.group_id).where(
        UserGroupMember.user_id == user_id, UserGroupMember.tenant_id == tenant_id))).all())
