"""Usage for tenant admins: tokens by day, user, assistant and model; stored bytes; the quotas."""

import uuid
from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from eneo.audit.service import Target, changes, record
from eneo.auth.deps import CurrentUser
from eneo.core.errors import ValidationFailed
from eneo.core.ids import utcnow
from eneo.usage import service
from eneo.usage.schemas import CollectionStorage, QuotasOut, QuotasUpdate, StorageOut, TokenUsageOut, UsageRow

router = APIRouter(tags=["usage"])
MAX_DAYS = 366


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"Invalid request: {field}: {message}",
                            details=[{"field": field, "message": message, "type": "value_error"}])


@router.get("/api/v1/token-usage/")
async def token_usage(ctx: CurrentUser,
                      start: Annotated[date | None, Query(description="First day (UTC), default: the 1st of "
                                                                       "this month")] = None,
                      end: Annotated[date | None, Query(description="Last day, inclusive; default: today")] = None,
                      group_by: Annotated[list[service.Grouping] | None, Query(description=(
                          "Any of day, month, user, assistant, model (repeat the parameter); none: one total"))]
                      = None,
                      user_id: uuid.UUID | None = None, assistant_id: uuid.UUID | None = None,
                      model_id: uuid.UUID | None = None) -> TokenUsageOut:
    """Tokens the providers reported (input, output) and questions answered, summed over the days asked."""
    today = utcnow().date()
    start, end = start or today.replace(day=1), end or today
    if end < start:
        raise _invalid("end", "must not be before start")
    if (end - start) > timedelta(days=MAX_DAYS):
        raise _invalid("end", f"at most {MAX_DAYS} days after start")
    groups = tuple(dict.fromkeys(group_by or []))
    rows = await service.token_usage(ctx.uow, ctx.principal.tenant_id, service.UsageQuery(
        start, end, groups, user_id, assistant_id, model_id))
    return TokenUsageOut(start=start, end=end, group_by=list(groups), items=[UsageRow(**r) for r in rows])


@router.get("/api/v1/storage-usage/")
async def storage_usage(ctx: CurrentUser) -> StorageOut:
    """Bytes of stored documents, the organisation's and each collection's (largest first)."""
    total, documents, collections = await service.storage_usage(ctx.uow, ctx.principal.tenant_id)
    quota = await service.get_quotas(ctx.uow, ctx.principal.tenant_id)
    return StorageOut(bytes=total, documents=documents, quota_bytes=quota.storage_bytes,
                      collections=[CollectionStorage(**c) for c in collections])


async def _quotas_out(ctx: CurrentUser) -> QuotasOut:
    tenant = ctx.principal.tenant_id
    out = QuotasOut.model_validate(await service.get_quotas(ctx.uow, tenant))
    out.tokens_used_this_month = await service.month_usage(ctx.uow, tenant)
    out.storage_used_bytes = await service.stored_bytes(ctx.uow, tenant)
    return out


@router.get("/api/v1/quotas/")
async def get_quotas(ctx: CurrentUser) -> QuotasOut:
    """The organisation's limits (null: none) and what it has used of them."""
    return await _quotas_out(ctx)


@router.patch("/api/v1/quotas/")
async def update_quotas(ctx: CurrentUser, body: QuotasUpdate) -> QuotasOut:
    """Set or remove limits. A question over a token quota is refused with 429 before the model is asked; an
    upload over the storage quota with 413."""
    await service.set_quotas(ctx.uow, ctx.principal.tenant_id, body.model_dump(exclude_unset=True))
    record(ctx.uow, ctx.principal, "quota.updated", Target("tenant", ctx.principal.tenant_id),
           details={**changes(body), **body.model_dump(exclude_unset=True)})
    return await _quotas_out(ctx)
