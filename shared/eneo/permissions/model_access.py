"""Models limited to user groups: a model with `allowed_group_ids` serves only members of those groups.

Checked where a user binds a model (an assistant, a collection) and again before every use that reaches a
provider (a question, a search), so a group change takes effect at the next request and a refused user's
text never leaves. No role overrides it: the limit is often a contract (a licence, a data agreement).
"""

import uuid
from collections.abc import Sequence

from sqlalchemy import select

from eneo.core.db import UnitOfWork
from eneo.core.errors import Forbidden, ValidationFailed
from eneo.permissions.models import UserGroup, UserGroupMember


class ModelNotAllowed(Forbidden):
    code = "model_not_allowed"


async def may_use(uow: UnitOfWork, user_id: uuid.UUID, allowed_group_ids: Sequence[uuid.UUID] | None) -> bool:
    if not allowed_group_ids:
        return True
    found = await uow.session.scalar(select(UserGroupMember.group_id).where(
        UserGroupMember.user_id == user_id, UserGroupMember.group_id.in_(list(allowed_group_ids))).limit(1))
    return found is not None


async def require_model_access(uow: UnitOfWork, user_id: uuid.UUID, kind: str, name: str,
                               allowed_group_ids: Sequence[uuid.UUID] | None) -> None:
    """403 `model_not_allowed` unless the user is in one of the model's groups (or it has none)."""
    if not await may_use(uow, user_id, allowed_group_ids):
        raise ModelNotAllowed(f"The {kind} model {name!r} is limited to user groups you are not a member of; "
                              "ask an administrator", details=[{"model": name, "kind": kind}])


async def chosen_groups(uow: UnitOfWork, tenant_id: uuid.UUID, group_ids: list[uuid.UUID] | None, *,
                        field: str = "allowed_group_ids") -> list[uuid.UUID] | None:
    """The groups a model update (or another `field`) names, checked against the tenant (422 on `field`); an
    empty list or null opens the model to everyone."""
    if not group_ids:
        return None
    wanted = sorted(set(group_ids))
    found = set((await uow.session.scalars(select(UserGroup.id).where(
        UserGroup.id.in_(wanted), UserGroup.tenant_id == tenant_id))).all())
    if missing := [g for g in wanted if g not in found]:
        message = f"no user group with the id {missing[0]}"
        raise ValidationFailed(f"Invalid request: {field}: {message}", details=[
            {"field": field, "message": message, "type": "value_error"}])
    return wanted

