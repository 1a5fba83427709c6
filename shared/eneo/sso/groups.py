"""User groups from the provider's claim: `group_mappings` ({"value", "group_id"}) on a provider.

Only the mapped groups follow the claim; memberships of any other group are managed in Eneo and never touched
by a sign-in. A mapped group deleted later drops out (its mapping is skipped and no longer shown) rather than
failing every sign-in, since deleting a group is an ordinary admin action.
"""

import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from eneo.audit.models import ActorType
from eneo.audit.service import Actor, Target, record
from eneo.core.db import UnitOfWork
from eneo.permissions.model_access import chosen_groups
from eneo.permissions.models import UserGroup, UserGroupMember
from eneo.sso.models import SsoProvider
from eneo.sso.schemas import GroupMapping
from eneo.users.groups import group_ids_of
from eneo.users.models import User


def claim_values(provider: SsoProvider, claims: dict[str, Any]) -> set[str]:
    """The values of the provider's `role_claim` in the ID token: a string or a list of them."""
    held = claims.get(provider.role_claim)
    return {str(v) for v in held} if isinstance(held, list) else ({str(held)} if held is not None else set())


async def checked(uow: UnitOfWork, tenant_id: uuid.UUID, mappings: list[GroupMapping]) -> list[dict[str, str]]:
    """The mappings as stored, once each group is known to be the tenant's (422 on `group_mappings`)."""
    await chosen_groups(uow, tenant_id, [m.group_id for m in mappings], field="group_mappings")
    return [m.model_dump(mode="json") for m in mappings]


async def _groups(uow: UnitOfWork, provider: SsoProvider) -> dict[uuid.UUID, UserGroup]:
    ids = {uuid.UUID(m["group_id"]) for m in provider.group_mappings or []}
    if not ids:
        return {}
    rows = await uow.session.scalars(select(UserGroup).where(UserGroup.id.in_(ids),
                                                             UserGroup.tenant_id == provider.tenant_id))
    return {g.id: g for g in rows.all()}


async def live(uow: UnitOfWork, provider: SsoProvider) -> list[dict[str, str]]:
    """The provider's mappings whose group still exists."""
    groups = await _groups(uow, provider)
    return [m for m in provider.group_mappings or [] if uuid.UUID(m["group_id"]) in groups]


async def follow_claim(uow: UnitOfWork, provider: SsoProvider, user: User, claims: dict[str, Any]) -> None:
    """Add the user to the mapped groups the claim names and remove them from the mapped groups it does not;
    each change is audited as an admin's would be (`user_group.member_added` / `_removed`, `"via": "sso"`)."""
    groups = await _groups(uow, provider)
    if not groups:
        return
    values = claim_values(provider, claims)
    wanted = {gid for m in provider.group_mappings if m["value"] in values
              and (gid := uuid.UUID(m["group_id"])) in groups}
    current = await group_ids_of(uow, user.tenant_id, user.id) & groups.keys()
    actor, target = Actor(ActorType.user, user.id, user.email), Target("user", user.id, user.email)
    for gid in sorted(wanted - current):
        added = await uow.session.execute(insert(UserGroupMember).values(
            group_id=gid, user_id=user.id, tenant_id=user.tenant_id).on_conflict_do_nothing())
        if added.rowcount:  # type: ignore[attr-defined]
            record(uow, actor, "user_group.member_added", target, tenant_id=user.tenant_id,
                   details={"user_group_id": str(gid), "user_group": groups[gid].name, "via": "sso"})
    for gid in sorted(current - wanted):
        removed = await uow.session.execute(delete(UserGroupMember).where(
            UserGroupMember.group_id == gid, UserGroupMember.user_id == user.id))
        if removed.rowcount:  # type: ignore[attr-defined]
            record(uow, actor, "user_group.member_removed", target, tenant_id=user.tenant_id,
                   details={"user_group_id": str(gid), "user_group": groups[gid].name, "via": "sso"})
