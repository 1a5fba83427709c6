"""Counting tokens, reporting usage and storage, and refusing what a quota does not allow.

Tokens are counted when an answer is saved (`add_tokens`, from eneo.answers), from the provider's reported
usage. Quotas are checked where work is accepted, before anything is sent to a provider: a question is
refused before it is saved (`check_token_quota`, from eneo.sessions), an upload before it is stored
(`check_storage_quota`). A check is one statement reading the tenant's quota row and two counters by
primary key (bench/quota_check.py measures it). Questions already accepted when a quota is reached are
still answered, so a month can end a few answers over.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import func, select, text

from eneo.assistants.models import Assistant
from eneo.core.db import UnitOfWork
from eneo.core.errors import AppError, TooManyRequests
from eneo.core.ids import utcnow
from eneo.knowledge.models import Group, InfoBlob
from eneo.model_providers.models import CompletionModel
from eneo.usage.models import TENANT_TOTAL, TenantQuota, TokenUsageDaily
from eneo.usage.models import TokenUsageMonthly as M
from eneo.users.models import User

Grouping = Literal["day", "month", "user", "assistant", "model"]

_ADD = text("""
    WITH daily AS (
      INSERT INTO token_usage_daily AS d (tenant_id, day, user_id, assistant_id, model_id, input_tokens,
                                          output_tokens, questions)
      VALUES (:tenant, :day, :user, :assistant, :model, :input, :output, 1)
      ON CONFLICT (tenant_id, day, user_id, assistant_id, model_id) DO UPDATE
      SET input_tokens = d.input_tokens + excluded.input_tokens,
          output_tokens = d.output_tokens + excluded.output_tokens, questions = d.questions + 1)
    INSERT INTO token_usage_monthly AS m (tenant_id, month, user_id, input_tokens, output_tokens, questions)
    VALUES (:tenant, :month, :user, :input, :output, 1), (:tenant, :month, :total, :input, :output, 1)
    ON CONFLICT (tenant_id, month, user_id) DO UPDATE
    SET input_tokens = m.input_tokens + excluded.input_tokens,
        output_tokens = m.output_tokens + excluded.output_tokens, questions = m.questions + 1
""")

_CHECK = text("""
    SELECT q.tokens_per_month, q.tokens_per_user_per_month,
           (SELECT m.input_tokens + m.output_tokens FROM token_usage_monthly m
            WHERE m.tenant_id = q.tenant_id AND m.month = :month AND m.user_id = :total) AS tenant_used,
           (SELECT m.input_tokens + m.output_tokens FROM token_usage_monthly m
            WHERE m.tenant_id = q.tenant_id AND m.month = :month AND m.user_id = :user) AS user_used
    FROM tenant_quotas q WHERE q.tenant_id = :tenant
""")


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


async def add_tokens(uow: UnitOfWork, *, tenant_id: uuid.UUID, user_id: uuid.UUID, assistant_id: uuid.UUID,
                     model_id: uuid.UUID, input_tokens: int, output_tokens: int) -> None:
    """Count one answered question's tokens (today, UTC), in the caller's transaction: one statement."""
    today = utcnow().date()
    await uow.session.execute(_ADD, {
        "tenant": tenant_id, "day": today, "month": month_of(today), "user": user_id, "assistant": assistant_id,
        "model": model_id, "input": input_tokens, "output": output_tokens, "total": TENANT_TOTAL})


class QuotaExceeded(TooManyRequests):
    """429 with Retry-After: the seconds until the month's quota starts over (the 1st, 00:00 UTC)."""


async def check_token_quota(uow: UnitOfWork, tenant_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Raise QuotaExceeded when the tenant's or the user's tokens this month have reached their quota."""
    now = utcnow()
    row = (await uow.session.execute(_CHECK, {"tenant": tenant_id, "user": user_id, "total": TENANT_TOTAL,
                                              "month": month_of(now.date())})).first()
    if row is None:
        return
    reset = datetime.combine(next_month(now.date()), datetime.min.time(), UTC)
    wait = max(int((reset - now).total_seconds()), 1)
    if row.tokens_per_month is not None and (row.tenant_used or 0) >= row.tokens_per_month:
        raise QuotaExceeded(f"Your organisation has used its {row.tokens_per_month} tokens for this month; "
                            f"the quota starts over on {reset.date().isoformat()}", wait,
                            code="tenant_token_quota_exceeded")
    if row.tokens_per_user_per_month is not None and (row.user_used or 0) >= row.tokens_per_user_per_month:
        raise QuotaExceeded(f"You have used your {row.tokens_per_user_per_month} tokens for this month; "
                            f"the quota starts over on {reset.date().isoformat()}", wait,
                            code="user_token_quota_exceeded")


class StorageQuotaExceeded(AppError):
    status, code = 413, "storage_quota_exceeded"


async def stored_bytes(uow: UnitOfWork, tenant_id: uuid.UUID) -> int:
    return int(await uow.session.scalar(
        select(func.coalesce(func.sum(InfoBlob.size_bytes), 0)).where(InfoBlob.tenant_id == tenant_id)) or 0)


async def check_storage_quota(uow: UnitOfWork, tenant_id: uuid.UUID, incoming: int) -> None:
    """Raise 413 `storage_quota_exceeded` if storing `incoming` more bytes would pass the tenant's quota."""
    limit = await uow.session.scalar(select(TenantQuota.storage_bytes).where(TenantQuota.tenant_id == tenant_id))
    if limit is None:
        return
    used = await stored_bytes(uow, tenant_id)
    if used + incoming > limit:
        raise StorageQuotaExceeded(f"Your organisation's documents use {used} of its {limit} bytes; this file "
                                   f"({incoming} bytes) does not fit. Delete documents or ask for a larger quota")


@dataclass(frozen=True)
class UsageQuery:
    start: date
    end: date  # inclusive
    group_by: tuple[Grouping, ...]
    user_id: uuid.UUID | None = None
    assistant_id: uuid.UUID | None = None
    model_id: uuid.UUID | None = None


async def token_usage(uow: UnitOfWork, tenant_id: uuid.UUID, q: UsageQuery) -> list[dict[str, Any]]:
    """Sums of tokens and questions over [start, end], grouped as asked (no grouping: one total row), with the
    names of the users, assistants and models that still exist."""
    t = TokenUsageDaily
    keys: dict[str, Any] = {}
    for g in q.group_by:
        keys[g] = {"day": t.day, "month": func.date_trunc("month", t.day).cast(t.day.type),
                   "user": t.user_id, "assistant": t.assistant_id, "model": t.model_id}[g]
    sums = [func.coalesce(func.sum(t.input_tokens), 0).label("input_tokens"),
            func.coalesce(func.sum(t.output_tokens), 0).label("output_tokens"),
            func.coalesce(func.sum(t.questions), 0).label("questions")]
    query = select(*[c.label(k) for k, c in keys.items()], *sums).where(
        t.tenant_id == tenant_id, t.day >= q.start, t.day <= q.end)
    for column, value in ((t.user_id, q.user_id), (t.assistant_id, q.assistant_id), (t.model_id, q.model_id)):
        if value is not None:
            query = query.where(column == value)
    if keys:
        query = query.group_by(*keys.values()).order_by(*keys.values())
    rows = [dict(r._mapping) for r in (await uow.session.execute(query)).all()]
    names: dict[str, dict[uuid.UUID, str]] = {}
    tables: dict[str, tuple[Any, Any]] = {"user": (User, User.email), "assistant": (Assistant, Assistant.name),
                                          "model": (CompletionModel, CompletionModel.name)}
    for key, (entity, label) in tables.items():
        ids = {r[key] for r in rows if r.get(key)}
        if ids:
            found = await uow.session.execute(select(entity.id, label).where(
                entity.id.in_(ids), entity.tenant_id == tenant_id))
            names[key] = {i: n for i, n in found.all()}
    out = []
    for r in rows:
        item: dict[str, Any] = {}
        for key in keys:
            if key in ("day", "month"):
                item[key] = r[key]
            else:
                item[f"{key}_id"] = r[key]
                item[f"{key}_name"] = names.get(key, {}).get(r[key])
        out.append(item | {"input_tokens": int(r["input_tokens"]), "output_tokens": int(r["output_tokens"]),
                           "total_tokens": int(r["input_tokens"]) + int(r["output_tokens"]),
                           "questions": int(r["questions"])})
    return out


async def storage_usage(uow: UnitOfWork, tenant_id: uuid.UUID) -> tuple[int, int, list[dict[str, Any]]]:
    """The tenant's stored bytes and documents, and each collection's (largest first)."""
    rows = (await uow.session.execute(
        select(Group.id, Group.name, Group.space_id,
               func.coalesce(func.sum(InfoBlob.size_bytes), 0).label("bytes"),
               func.count(InfoBlob.id).label("documents"))
        .outerjoin(InfoBlob, (InfoBlob.group_id == Group.id) & (InfoBlob.tenant_id == tenant_id))
        .where(Group.tenant_id == tenant_id).group_by(Group.id)
        .order_by(func.coalesce(func.sum(InfoBlob.size_bytes), 0).desc(), Group.id))).all()
    collections = [{"id": r.id, "name": r.name, "space_id": r.space_id, "bytes": int(r.bytes),
                    "documents": int(r.documents)} for r in rows]
    return sum(c["bytes"] for c in collections), sum(c["documents"] for c in collections), collections


async def get_quotas(uow: UnitOfWork, tenant_id: uuid.UUID) -> TenantQuota:
    return await uow.session.get(TenantQuota, tenant_id) or TenantQuota(tenant_id=tenant_id, updated_at=utcnow())


async def set_quotas(uow: UnitOfWork, tenant_id: uuid.UUID, changes: dict[str, int | None]) -> TenantQuota:
    quota = await uow.session.get(TenantQuota, tenant_id)
    if quota is None:
        quota = TenantQuota(tenant_id=tenant_id)
        uow.session.add(quota)
    for field, value in changes.items():
        setattr(quota, field, value)
    quota.updated_at = utcnow()
    await uow.session.flush()
    return quota


async def month_usage(uow: UnitOfWork, tenant_id: uuid.UUID, user_id: uuid.UUID | None = None) -> int:
    """Tokens this month, of the tenant (or of one user)."""
    used = await uow.session.scalar(select(M.input_tokens + M.output_tokens).where(
        M.tenant_id == tenant_id, M.month == month_of(utcnow().date()), M.user_id == (user_id or TENANT_TOTAL)))
    return int(used or 0)



async def forget_user(uow: UnitOfWork, user_id: uuid.UUID) -> None:
    """At an erasure: the user's daily tokens move to ERASED_USERS (the tenant's, assistants' and models'
    totals stay right, nothing names the user) and their monthly counters go (the tenant's stays); a
    database function does it (infra/migrations 0021), as the functions' role may not delete counters."""
    await uow.session.execute(text("SELECT usage_forget_user(:user)"), {"user": user_id})
