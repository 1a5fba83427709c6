"""The scheduled sweep: re-queue every active tenant's documents stuck mid-pipeline.

On AWS a function killed by its timeout (or a crash) after claiming a document leaves it
`processing`/`embedding` with no message left to finish it; until now only a user's retry did.
The sweep function runs this on a schedule (template.yaml: SweepFunction, every 15 minutes) and
resumes what has had no change for `ingest_stale_seconds`: re-queued, or failed when its file is gone
or never came (eneo.ingestion.recovery says how, and why running it while work is still in flight is
harmless). Within a tenant each document is resumed on its own, so one bad document stops no other.

Tenants are listed as the sysadmin (`UnitOfWork(sysadmin=True)`: the tenants table's policy admits
`app.sysadmin`), the way the sysadmin routes and the local stack's start-up resume do; each tenant is
then handled in its own tenant-bound unit of work. One tenant's failure is logged and counted, and the
others still run. Only counts and ids are logged.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import select

from eneo.core.db import UnitOfWork
from eneo.core.settings import Settings, get_settings
from eneo.ingestion.recovery import resume_unfinished
from eneo.tenants.models import Tenant, TenantState

log = logging.getLogger("eneo.ingestion")


@dataclass
class SweepResult:
    """What one sweep did: tenants looked at, documents re-queued, tenants that failed (ids)."""

    tenants: int = 0
    resumed: int = 0
    failed: list[uuid.UUID] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {"tenants": self.tenants, "resumed": self.resumed, "failed": len(self.failed)}


async def active_tenants() -> list[uuid.UUID]:
    """Every active tenant's id, read as the sysadmin (the app role sees no other tenant otherwise)."""
    async with UnitOfWork(sysadmin=True) as uow:
        return list((await uow.session.scalars(
            select(Tenant.id).where(Tenant.state == TenantState.active).order_by(Tenant.created_at))).all())


async def sweep_unfinished(settings: Settings | None = None, *, older_than_seconds: float | None = None
                           ) -> SweepResult:
    """Resume every active tenant's documents unchanged for `older_than_seconds` (default:
    `settings.ingest_stale_seconds`); one line with the counts goes to the log."""
    settings = settings or get_settings()
    stale = settings.ingest_stale_seconds if older_than_seconds is None else older_than_seconds

    async def resume(tenant_id: uuid.UUID) -> int:
        return await resume_unfinished(tenant_id, older_than_seconds=stale, settings=settings)

    result = await sweep_tenants(await active_tenants(), resume)
    level = logging.WARNING if result.failed else logging.INFO
    log.log(level, "ingestion sweep", extra={**result.as_dict(), "older_than_seconds": stale})
    return result


async def sweep_tenants(tenant_ids: Iterable[uuid.UUID], resume: Callable[[uuid.UUID], Awaitable[int]]
                        ) -> SweepResult:
    """`resume` each tenant in turn; a failure is logged (tenant id and error type) and the rest still run."""
    result = SweepResult()
    for tenant_id in tenant_ids:
        result.tenants += 1
        try:
            result.resumed += await resume(tenant_id)
        except Exception as exc:
            result.failed.append(tenant_id)
            log.error("sweep failed for a tenant", extra={"tenant_id": str(tenant_id), "error": type(exc).__name__})
    return result
