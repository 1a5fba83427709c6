"""The one place where this package's actions will be written to the audit log.

The audit log (eneo.audit, issue 15 part 2) lands on another branch; until it does, `record` only logs the
action's name and ids (never content), and each call site below already passes what an entry needs. When
eneo.audit exists, this function's body becomes its call and nothing else here changes.
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
