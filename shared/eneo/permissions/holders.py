"""The permissions a user holds through their tenant role (apart from eneo.users.roles, which
records audit entries: the principal's module needs this one and must not import the audit log)."""

from eneo.core.db import UnitOfWork
from eneo.permissions.models import Role
from eneo.permissions.policy import BUILTIN_ROLES, Permission, parse_permissions
from eneo.users.models import User


async def permissions_of(uow: UnitOfWork, user: User) -> frozenset[Permission]:
    """The built-in role's permissions, or the custom role's when the user has one."""
    if user.role_id is None:
        return BUILTIN_ROLES[user.role]
    role = await uow.session.get(Role, user.role_id)
    return parse_permissions(role.permissions) if role is not None else frozenset()
