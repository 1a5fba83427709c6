"""The tenant's audit log, for its administrators: read (filtered, newest first), and export."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from eneo.audit import service
from eneo.audit.models import Outcome
from eneo.audit.schemas import AuditEntryOut
from eneo.auth.deps import CurrentUser
from eneo.core.errors import ValidationFailed
from eneo.core.pagination import Page, PageQuery

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])


def filters(action: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_.]+$", description=(
                "An action (`api_key.created`), or a prefix ending in `.` (`auth.`)"))] = None,
            outcome: Outcome | None = None, actor_id: uuid.UUID | None = None,
            target_type: Annotated[str | None, Query(max_length=32, pattern=r"^[a-z_]+$")] = None,
            target_id: uuid.UUID | None = None,
            since: Annotated[datetime | None, Query(description="From this time (inclusive, ISO 8601)")] = None,
            until: Annotated[datetime | None, Query(description="Before this time (exclusive)")] = None,
            ) -> service.AuditFilter:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ValidationFailed(f"Invalid request: {name}: give a time zone (Z or +01:00)",
                                   details=[{"field": name, "message": "give a time zone", "type": "value_error"}])
    return service.AuditFilter(action, outcome, actor_id, target_type, target_id, since, until)


Filters = Annotated[service.AuditFilter, Depends(filters)]


@router.get("/logs/")
async def list_logs(ctx: CurrentUser, where: Filters, page: Annotated[PageQuery, Depends()]) -> Page[AuditEntryOut]:
    """Newest first; `next_cursor` continues with older entries. Reading the log is not itself logged."""
    rows, cursor = await service.list_entries(ctx.uow, ctx.principal.tenant_id, where, limit=page.limit,
                                              cursor=page.cursor)
    return Page(items=[AuditEntryOut.model_validate(r) for r in rows], next_cursor=cursor)


@router.get("/logs/export/", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}})
async def export_logs(ctx: CurrentUser, where: Filters, format: Literal["csv", "jsonl"] = "csv"
                      ) -> StreamingResponse:
    """Every matching entry (same filters as the list), newest first, streamed as CSV or JSON Lines.

    The export is itself recorded (`audit.exported`), with its filters.
    """
    service.record(ctx.uow, ctx.principal, "audit.exported", details={
        "format": format, **{k: v.isoformat() if isinstance(v, datetime) else str(v)
                             for k, v in vars(where).items() if v is not None}})
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    name = f"audit-{datetime.now().strftime('%Y%m%d-%H%M%S')}.{format}"
    return StreamingResponse(service.export(ctx.principal.tenant_id, where, format), media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})
