"""Tenant roles: the built-in two and the tenant's own, and the permissions a user holds through one."""

import uuid

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from eneo.audit.service import Target, record
from eneo.auth.principal import Principal
from eneo.core.db import UnitOfWork
from eneo.core.errors import Conflict, NotFound, ValidationFailed
from eneo.permissions.models import Role
from eneo.permissions.policy import BUILTIN_IDS, BUILTIN_ROLES, parse_permissions
from eneo.permissions.schemas import RoleCreate, RoleOut, RoleUpdate
from eneo.users.models import User, UserRole

_BUILTIN_NAMES = {UserRole.admin: "Administrator", UserRole.user: "User"}


def builtin_out(role: UserRole) -> RoleOut:
    return RoleOut(id=BUILTIN_IDS[role], name=_BUILTIN_NAMES[role], builtin=True,
                   permissions=sorted(BUILTIN_ROLES[role]))


def _out(role: Role) -> RoleOut:
    return RoleOut(id=role.id, name=role.name, builtin=False, permissions=sorted(parse_permissions(role.permissions)),
                   created_at=role.created_at, updated_at=role.updated_at)


async def list_roles(uow: UnitOfWork, p: Principal) -> list[RoleOut]:
    custom = (await uow.session.scalars(select(Role).where(Role.tenant_id == p.tenant_id).order_by(Role.name))).all()
    return [builtin_out(UserRole.admin), builtin_out(UserRole.user), *(_out(r) for r in custom)]


async def _custom(uow: UnitOfWork, p: Principal, role_id: uuid.UUID, *, lock: bool = False) -> Role:
    query = select(Role).where(Role.id == role_id, Role.tenant_id == p.tenant_id)
    role = await uow.session.scalar(query.with_for_update() if lock else query)
    if role is None:
        raise NotFound("Role")
    return role


def _builtin(role_id: uuid.UUID) -> UserRole | None:
    return next((r for r, i in BUILTIN_IDS.items() if i == role_id), None)


async def get_role(uow: UnitOfWork, p: Principal, role_id: uuid.UUID) -> RoleOut:
    builtin = _builtin(role_id)
    return builtin_out(builtin) if builtin else _out(await _custom(uow, p, role_id))


def _refuse_builtin(role_id: uuid.UUID) -> None:
    if _builtin(role_id):
        raise Conflict("The built-in roles cannot be changed or deleted; create a role of your own",
                       code="builtin_role")


async def _flush_named(uow: UnitOfWork) -> None:
    try:
        await uow.session.flush()
    except IntegrityError:
        await uow.rollback()
        raise Conflict("A role with this name already exists", code="role_name_taken") from None


async def create_role(uow: UnitOfWork, p: Principal, data: RoleCreate) -> RoleOut:
    role = Role(tenant_id=p.tenant_id, name=data.name, permissions=sorted(set(data.permissions)))
    uow.session.add(role)
    await _flush_named(uow)
    record(uow, p, "role.created", Target("role", role.id, role.name), details={"permissions": role.permissions})
    return _out(role)


async def update_role(uow: UnitOfWork, p: Principal, role_id: uuid.UUID, data: RoleUpdate) -> RoleOut:
    _refuse_builtin(role_id)
    role = await _custom(uow, p, role_id, lock=True)
    if data.name is not None:
        role.name = data.name
    if data.permissions is not None:
        role.permissions = sorted(set(data.permissions))
    await _flush_named(uow)
    record(uow, p, "role.updated", Target("role", role.id, role.name),
           details={"fields": sorted(data.model_dump(exclude_unset=True)), "permissions": role.permissions})
    return _out(role)


async def delete_role(uow: UnitOfWork, p: Principal, role_id: uuid.UUID) -> None:
    """Refused while users hold the role (409 `role_in_use`, with the count): they would lose every right."""
    _refuse_builtin(role_id)
    role = await _custom(uow, p, role_id, lock=True)
    holders = await uow.session.scalar(select(func.count()).select_from(User).where(
        User.tenant_id == p.tenant_id, User.role_id == role.id))
    if holders:
        raise Conflict(f"{holders} user(s) have this role; give them another one first", code="role_in_use",
                       details=[{"users": holders}])
    await uow.session.delete(role)
    record(uow, p, "role.deleted", Target("role", role.id, role.name))


async def assign_role(uow: UnitOfWork, tenant_id: uuid.UUID, user: User, role_id: uuid.UUID) -> None:
    """Give `user` a built-in role (by its fixed id) or one of the tenant's custom roles."""
    builtin = _builtin(role_id)
    if builtin is not None:
        user.role, user.role_id = builtin, None
        return
    role = await uow.session.scalar(select(Role).where(Role.id == role_id, Role.tenant_id == tenant_id))
    if role is None:
        raise ValidationFailed("Invalid request: role_id: no such role in your organisation", details=[
            {"field": "role_id", "message": "no such role in your organisation", "type": "value_error"}])
    user.role, user.role_id = UserRole.user, role.id
