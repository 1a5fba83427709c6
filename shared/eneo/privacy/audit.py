"""The one place where this package meets the audit log (eneo.audit): its actions' entries (`record`), and
an erased user's past entries (`pseudonymise_user`).

The export, the erasure and the scheduled retention run commit before their side effects (storage, Redis),
so their entries are written here in a short transaction of their own, after the action took effect. A
retention period's change has no such side effect: its entry rides the request's transaction
(eneo.privacy.api), which costs no transaction of its own.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from eneo.audit import service as audit_log
from eneo.audit.models import ActorType, Outcome
from eneo.core.db import UnitOfWork


async def record(action: str, *, tenant_id: uuid.UUID, actor_id: uuid.UUID | None, target_id: uuid.UUID | None,
                 target_type: str = "user", outcome: str = "success",
                 details: dict[str, Any] | None = None) -> None:
    """An audit entry for `action` (e.g. "retention.set", "retention.run", "user.export", "user.erasure"):
    who (`actor_id`, None for a scheduled run), in which tenant, on what, how it ended, and counts or ids."""
    actor = audit_log.Actor(ActorType.user, actor_id) if actor_id else audit_log.SYSTEM
    target = audit_log.Target(target_type, target_id) if target_id else None
    async with UnitOfWork(tenant_id) as uow:
        audit_log.record(uow, actor, action, target, outcome=Outcome(outcome), tenant_id=tenant_id,
                         details=details)
        await uow.commit()


async def pseudonymise_user(*, tenant_id: uuid.UUID, user_id: uuid.UUID, email: str) -> int:
    """At an erasure: the entries that name the user (as actor or target, by id or by e-mail) keep their ids
    and lose the e-mail and name (infra/migrations 0021); nothing is dropped. Returns how many changed."""
    async with UnitOfWork(tenant_id) as uow:
        changed = await uow.session.scalar(text("SELECT audit_pseudonymise_user(:user_id, :email)"),
                                           {"user_id": user_id, "email": email})
        await uow.commit()
    return int(changed or 0)
