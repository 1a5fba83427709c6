"""The one place where this package meets the audit log: its actions' entries (`record`), and an erased
user's past entries (`pseudonymise_user`).

The audit log (eneo.audit, issue 15 part 2) lands on another branch; until it does, `record` only logs the
action's name and ids (never content), and each call site below already passes what an entry needs. When
eneo.audit exists, these two functions' bodies become its calls and nothing else here changes.
"""

from __future__ import annotations

import logging
import uuid

log = logging.getLogger("eneo.privacy")


async def record(action: str, *, tenant_id: uuid.UUID, actor_id: uuid.UUID | None, target_id: uuid.UUID | None,
                 outcome: str = "success", details: dict[str, int | str] | None = None) -> None:
    """An audit entry for `action` (e.g. "retention.set", "retention.run", "user.export", "user.erasure"):
    who (`actor_id`, None for a scheduled run), in which tenant, on what, how it ended, and counts or ids."""
    log.info("audit", extra={"action": action, "tenant_id": str(tenant_id),
                             "actor_id": str(actor_id) if actor_id else None,
                             "target_id": str(target_id) if target_id else None, "outcome": outcome,
                             **(details or {})})


async def pseudonymise_user(*, tenant_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """At an erasure: the audit log's entries about the user are pseudonymised, not dropped (issue 15 part 4).
    The audit log owns how (its e-mail/name columns replaced, the id kept as an opaque key); until it lands
    there are no entries, so there is nothing to do here but to be the call site."""
    log.info("audit pseudonymise", extra={"tenant_id": str(tenant_id), "user_id": str(user_id)})
