"""The scheduled retention run: delete every active tenant's questions older than their period, the sessions
left empty by that, and the answers' Redis streams that still exist.

A question is due when it was asked more than `days` days ago, `days` being the most specific period set for
its assistant (the assistant's, else its space's, else its tenant's; eneo.privacy.retention). A session goes
when it is itself older than the period and has no question left. Nothing else is touched: other tenants'
rows, assistants without a period, newer questions.

Work is done in bounded batches (`batch` rows per transaction, each committed before its streams are
deleted: only a deletion that holds removes them) and stops starting new batches once `deadline` is near.
What is left is due again at the next run, so a run can stop anywhere and the next one goes on: the run is
idempotent and re-runnable. Each tenant is bound to its own transactions (RLS), listed as the ingestion
sweep lists them; one tenant's failure is logged and the others still run.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, exists, select
from sqlalchemy.orm import aliased

from eneo.answers.stream import stream_key
from eneo.assistants.models import Assistant
from eneo.core.db import UnitOfWork
from eneo.core.ids import utcnow
from eneo.core.redis import get_redis
from eneo.ingestion.sweep import active_tenants
from eneo.privacy import audit
from eneo.privacy.models import RetentionPolicy
from eneo.sessions.models import Question, Session

log = logging.getLogger("eneo.privacy")

BATCH = 1000  # rows per transaction: short locks, bounded memory, a commit every few hundred milliseconds
MARGIN_SECONDS = 10.0  # no batch starts this close to the deadline


@dataclass
class RetentionResult:
    """What one run did; `finished` is False when the deadline stopped it with rows still due."""

    tenants: int = 0
    questions: int = 0
    sessions: int = 0
    failed: list[uuid.UUID] = field(default_factory=list)
    finished: bool = True

    def as_dict(self) -> dict[str, int | bool]:
        return {"tenants": self.tenants, "questions": self.questions, "sessions": self.sessions,
                "failed": len(self.failed), "finished": self.finished}


class _OutOfTime(Exception):
    """The run's time budget ended inside a tenant; its args are what was deleted so far."""


async def due_cutoffs(uow: UnitOfWork, tenant_id: uuid.UUID, now: datetime) -> list[tuple[uuid.UUID, datetime]]:
    """(assistant, cutoff) for every assistant of the tenant that has a period: its own, its space's or the
    tenant's, the most specific that is set. Questions asked before the cutoff are due."""
    own, space = aliased(RetentionPolicy), aliased(RetentionPolicy)
    tenant_days = (await uow.session.scalars(select(RetentionPolicy.days).where(
        RetentionPolicy.tenant_id == tenant_id, RetentionPolicy.space_id.is_(None),
        RetentionPolicy.assistant_id.is_(None)))).first()
    rows = (await uow.session.execute(
        select(Assistant.id, own.days, space.days)
        .outerjoin(own, and_(own.assistant_id == Assistant.id, own.tenant_id == tenant_id))
        .outerjoin(space, and_(space.space_id == Assistant.space_id, space.tenant_id == tenant_id))
        .where(Assistant.tenant_id == tenant_id))).all()
    out = []
    for assistant_id, own_days, space_days in rows:
        days = own_days if own_days is not None else space_days if space_days is not None else tenant_days
        if days is not None:
            out.append((assistant_id, now - timedelta(days=days)))
    return out


async def _delete_questions(tenant_id: uuid.UUID, assistant_id: uuid.UUID, cutoff: datetime, batch: int) -> int:
    async with UnitOfWork(tenant_id) as uow:
        due = (select(Question.id).where(Question.tenant_id == tenant_id, Question.assistant_id == assistant_id,
                                         Question.created_at < cutoff)
               .limit(batch).with_for_update(skip_locked=True))
        ids = list((await uow.session.scalars(
            delete(Question).where(Question.id.in_(due.scalar_subquery())).returning(Question.id))).all())
    if ids:  # committed: the deletion holds
        await get_redis().delete(*(stream_key(i) for i in ids))
    return len(ids)


async def _delete_sessions(tenant_id: uuid.UUID, assistant_id: uuid.UUID, cutoff: datetime, batch: int) -> int:
    async with UnitOfWork(tenant_id) as uow:
        empty = (select(Session.id).where(
            Session.tenant_id == tenant_id, Session.assistant_id == assistant_id, Session.created_at < cutoff,
            ~exists().where(Question.session_id == Session.id))
                 .limit(batch).with_for_update(skip_locked=True))
        return len((await uow.session.scalars(
            delete(Session).where(Session.id.in_(empty.scalar_subquery())).returning(Session.id))).all())


async def sweep_tenant(tenant_id: uuid.UUID, *, now: datetime, deadline: float, batch: int = BATCH
                       ) -> tuple[int, int]:
    """Delete the tenant's due questions and emptied sessions; (questions, sessions) deleted. Raises
    _OutOfTime, with what was done so far counted in its args, when the deadline comes first."""
    async with UnitOfWork(tenant_id) as uow:
        cutoffs = await due_cutoffs(uow, tenant_id, now)
    questions = sessions = 0
    for assistant_id, cutoff in cutoffs:
        for step in (_delete_questions, _delete_sessions):
            while True:
                if time.monotonic() > deadline - MARGIN_SECONDS:
                    raise _OutOfTime(questions, sessions)
                n = await step(tenant_id, assistant_id, cutoff, batch)
                if step is _delete_questions:
                    questions += n
                else:
                    sessions += n
                if n < batch:
                    break
    return questions, sessions


async def run_retention(*, deadline: float, now: datetime | None = None, batch: int = BATCH) -> RetentionResult:
    """One run over every active tenant (see the module docstring); one log line and one audit entry per tenant
    that had something deleted, and one summary line."""
    now = now or utcnow()
    result = RetentionResult()
    for tenant_id in await active_tenants():
        result.tenants += 1
        try:
            questions, sessions = await sweep_tenant(tenant_id, now=now, deadline=deadline, batch=batch)
        except _OutOfTime as stop:
            questions, sessions = stop.args
            result.finished = False
        except Exception as exc:
            result.failed.append(tenant_id)
            log.error("retention failed for a tenant", extra={"tenant_id": str(tenant_id),
                                                              "error": type(exc).__name__})
            continue
        result.questions += questions
        result.sessions += sessions
        if questions or sessions:
            await audit.record("retention.run", tenant_id=tenant_id, actor_id=None, target_id=tenant_id,
                               target_type="tenant", details={"questions": questions, "sessions": sessions})
        if not result.finished:
            break
    level = logging.WARNING if result.failed else logging.INFO
    log.log(level, "retention run", extra=result.as_dict())
    return result
