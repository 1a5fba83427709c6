"""The caller's own API keys."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from eneo.api_keys import service
from eneo.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from eneo.audit.service import Target, record
from eneo.auth.deps import CurrentUser
from eneo.core.pagination import Page, PageQuery

router = APIRouter(prefix="/api/v1/api-keys", tags=["api-keys"])


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_key(ctx: CurrentUser, body: ApiKeyCreate) -> ApiKeyCreated:
    """The answer holds the key itself; it cannot be shown again."""
    created = await service.create_key(ctx.uow, ctx.settings, ctx.principal, body)
    record(ctx.uow, ctx.principal, "api_key.created", Target("api_key", created.id, created.name),
           details={"scope": created.scope, "assistant_id": str(created.assistant_id) if created.assistant_id else None,
                    "expires_at": created.expires_at.isoformat() if created.expires_at else None})
    return created


@router.get("/")
async def list_keys(ctx: CurrentUser, page: Annotated[PageQuery, Depends()]) -> Page[ApiKeyOut]:
    rows, cursor = await service.list_keys(ctx.uow, ctx.principal, limit=page.limit, cursor=page.cursor)
    return Page(items=[ApiKeyOut.model_validate(k) for k in rows], next_cursor=cursor)


@router.delete("/{key_id}/")
async def revoke_key(ctx: CurrentUser, key_id: uuid.UUID) -> ApiKeyOut:
    """Revoke: the key stops working at once; it stays listed with `revoked_at`."""
    key = await service.revoke_key(ctx.uow, ctx.principal, key_id)
    record(ctx.uow, ctx.principal, "api_key.revoked", Target("api_key", key.id, key.name))
    return ApiKeyOut.model_validate(key)
