"""Retention periods of conversations: the tenant's (tenant admins), a space's (its admins), an assistant's
(its space's editors); PUT sets, DELETE clears (falling back to the next less specific period). A user's
data export and erasure."""

import uuid

from fastapi import APIRouter, Response, status

from eneo.audit import service as audit_log
from eneo.auth.deps import CurrentUser
from eneo.privacy import erasure, export, retention
from eneo.privacy.schemas import ErasureOut, ExportOut, RetentionOut, RetentionSet

router = APIRouter(prefix="/api/v1/retention", tags=["retention"])


def _audit(ctx: CurrentUser, action: str, scope: str, target_id: uuid.UUID, days: int | None = None) -> None:
    """The change's entry, in the request's own transaction: committed with the change or not at all, and no
    transaction of its own (bench/audit_latency.py). A refused change raises before this, and is not one."""
    audit_log.record(ctx.uow, ctx.principal, action, audit_log.Target(scope, target_id),
                     details={"days": days} if days is not None else None)


@router.get("/tenant/")
async def get_tenant_retention(ctx: CurrentUser) -> RetentionOut:
    return await retention.tenant_retention(ctx.uow, ctx.principal)


@router.put("/tenant/")
async def set_tenant_retention(ctx: CurrentUser, body: RetentionSet) -> RetentionOut:
    out = await retention.set_tenant_retention(ctx.uow, ctx.principal, body.days)
    _audit(ctx, "retention.set", "tenant", ctx.principal.tenant_id, body.days)
    return out


@router.delete("/tenant/", status_code=status.HTTP_204_NO_CONTENT)
async def clear_tenant_retention(ctx: CurrentUser) -> Response:
    await retention.clear_tenant_retention(ctx.uow, ctx.principal)
    _audit(ctx, "retention.clear", "tenant", ctx.principal.tenant_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/spaces/{space_id}/")
async def get_space_retention(ctx: CurrentUser, space_id: uuid.UUID) -> RetentionOut:
    return await retention.space_retention(ctx.uow, ctx.principal, space_id)


@router.put("/spaces/{space_id}/")
async def set_space_retention(ctx: CurrentUser, space_id: uuid.UUID, body: RetentionSet) -> RetentionOut:
    out = await retention.set_space_retention(ctx.uow, ctx.principal, space_id, body.days)
    _audit(ctx, "retention.set", "space", space_id, body.days)
    return out


@router.delete("/spaces/{space_id}/", status_code=status.HTTP_204_NO_CONTENT)
async def clear_space_retention(ctx: CurrentUser, space_id: uuid.UUID) -> Response:
    await retention.clear_space_retention(ctx.uow, ctx.principal, space_id)
    _audit(ctx, "retention.clear", "space", space_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/assistants/{assistant_id}/")
async def get_assistant_retention(ctx: CurrentUser, assistant_id: uuid.UUID) -> RetentionOut:
    return await retention.assistant_retention(ctx.uow, ctx.principal, assistant_id)


@router.put("/assistants/{assistant_id}/")
async def set_assistant_retention(ctx: CurrentUser, assistant_id: uuid.UUID, body: RetentionSet) -> RetentionOut:
    out = await retention.set_assistant_retention(ctx.uow, ctx.principal, assistant_id, body.days)
    _audit(ctx, "retention.set", "assistant", assistant_id, body.days)
    return out


@router.delete("/assistants/{assistant_id}/", status_code=status.HTTP_204_NO_CONTENT)
async def clear_assistant_retention(ctx: CurrentUser, assistant_id: uuid.UUID) -> Response:
    await retention.clear_assistant_retention(ctx.uow, ctx.principal, assistant_id)
    _audit(ctx, "retention.clear", "assistant", assistant_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# A user's data: export (the user or a tenant admin) and erasure (tenant admins).

users = APIRouter(prefix="/api/v1/privacy/users", tags=["privacy"])


@users.post("/{user_id}/export/", status_code=status.HTTP_201_CREATED)
async def export_user(ctx: CurrentUser, user_id: uuid.UUID) -> ExportOut:
    """Everything about the user as a zip (JSON files and their uploaded documents), through a download link
    valid for an hour. The user themself or an admin of their tenant; anyone else gets 404."""
    ready = await export.export_user(ctx.uow, ctx.principal, ctx.settings, user_id)
    return ExportOut(url=ready.url, expires_at=ready.expires_at, size_bytes=ready.size_bytes, documents=ready.files)


@users.post("/{user_id}/erasure/")
async def erase_user(ctx: CurrentUser, user_id: uuid.UUID) -> ErasureOut:
    """Erase the user and everything that is theirs; documents they put in shared spaces stay, de-attributed
    (docs/privacy.md). Not undoable."""
    erased = await erasure.erase_user(ctx.uow, ctx.principal, ctx.settings, user_id)
    return ErasureOut.model_validate(erased, from_attributes=True)
