"""The crawl scheduler (EventBridge, template.yaml): queues the websites that are due, and rescues runs.

For each active tenant, in one pass:
* runs that are active but nobody works on (no lease, or an expired one, and no change for
  `STALE`: their message was lost with a stack restart, or a re-queue failed) get their message again;
  a duplicate message is harmless (the lease lets one invocation in);
* websites that are due (`next_run_at` passed, not paused, scheduled, no active run) get a run, oldest due
  first, while the tenant has fewer than `crawl_max_concurrent_per_tenant` active runs.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from eneo.core import storage
from eneo.core.db import UnitOfWork
from eneo.core.ids import new_id, utcnow
from eneo.core.settings import Settings, get_settings
from eneo.tenants.models import Tenant, TenantState
from eneo.websites.models import ACTIVE, CrawlRun, RunStatus, Website
from eneo.websites.service import crawl_message

log = logging.getLogger("eneo.websites.schedule")

STALE = timedelta(minutes=10)


@dataclass
class ScheduleResult:
    tenants: int = 0
    queued: int = 0
    rescued: int = 0
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {"tenants": self.tenants, "queued": self.queued, "rescued": self.rescued, "failed": len(self.failed)}


async def active_tenants() -> list[uuid.UUID]:
    """Every active tenant's id, read as the sysadmin (as eneo.ingestion.sweep reads them)."""
    async with UnitOfWork(sysadmin=True) as uow:
        return list((await uow.session.scalars(
            select(Tenant.id).where(Tenant.state == TenantState.active).order_by(Tenant.created_at))).all())


async def schedule_due(settings: Settings | None = None, *, now: datetime | None = None) -> ScheduleResult:
    settings = settings or get_settings()
    result = ScheduleResult()
    for tenant_id in await active_tenants():
        result.tenants += 1
        try:
            queued, rescued = await schedule_tenant(tenant_id, settings, now=now)
            result.queued += queued
            result.rescued += rescued
        except Exception as exc:
            log.error("crawl schedule failed for a tenant", extra={"tenant_id": str(tenant_id),
                                                                  "error": type(exc).__name__})
            result.failed.append(str(tenant_id))
    log.log(logging.WARNING if result.failed else logging.INFO, "crawl schedule", extra=result.as_dict())
    return result


async def schedule_tenant(tenant_id: uuid.UUID, settings: Settings, *, now: datetime | None = None
                          ) -> tuple[int, int]:
    """(runs queued, runs rescued) for one tenant."""
    now = now or utcnow()
    async with UnitOfWork(tenant_id) as uow:
        session = uow.session
        stale = list((await session.scalars(select(CrawlRun).where(
            CrawlRun.tenant_id == tenant_id, CrawlRun.status.in_(ACTIVE), CrawlRun.updated_at < now - STALE,
            (CrawlRun.lease_until.is_(None)) | (CrawlRun.lease_until < now)))).all())
        if stale:
            await session.execute(update(CrawlRun).where(CrawlRun.id.in_([r.id for r in stale]))
                                  .values(updated_at=now))
        active = await session.scalar(select(func.count()).select_from(CrawlRun).where(
            CrawlRun.tenant_id == tenant_id, CrawlRun.status.in_(ACTIVE))) or 0
        room = settings.crawl_max_concurrent_per_tenant - active
        runs: list[CrawlRun] = []
        if room > 0:
            busy = select(CrawlRun.website_id).where(CrawlRun.tenant_id == tenant_id, CrawlRun.status.in_(ACTIVE))
            due = (await session.scalars(select(Website).where(
                Website.tenant_id == tenant_id, Website.next_run_at <= now, Website.paused_reason.is_(None),
                Website.update_interval != "never", Website.id.not_in(busy))
                .order_by(Website.next_run_at, Website.id).limit(room))).all()
            for website in due:
                run = CrawlRun(id=new_id(), tenant_id=tenant_id, website_id=website.id,
                               status=RunStatus.queued.value, trigger="schedule", started_by=None, failures={})
                session.add(run)
                try:
                    async with session.begin_nested():
                        await session.flush()
                except IntegrityError:  # a run was started by hand at this moment
                    continue
                runs.append(run)
        await uow.commit()
    messages = [crawl_message(r) for r in stale + runs]
    if messages:
        await asyncio.to_thread(storage.send_messages, settings.crawl_queue_url, messages, settings=settings)
    return len(runs), len(stale)
