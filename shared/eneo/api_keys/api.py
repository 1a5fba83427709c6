"""The caller's own API keys."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from eneo.api_keys import service
from eneo.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from eneo.auth.deps import CurrentUser
from eneo.core.pagination import Page, PageQuery

router = APIRouter(prefix="/api/v1/api-keys", tags=["api-keys"])


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_key(ctx: CurrentUser, body: ApiKeyCreate) -> ApiKeyCreated:
    """The answer holds the key itself; it cannot be shown again."""
    return await service.create_key(ctx.uow, ctx.settings, ctx.principal, body)


@router.get("/")
async def list_keys(ctx: CurrentUser, page: Annotated[PageQuery, Depends()]) -> Page[ApiKeyOut]:
    rows, cursor = await service.list_keys(ctx.uow, ctx.principal, limit=page.limit, cursor=page.cursor)
    return Page(items=[ApiKeyOut.model_validate(k) for k in rows], next_cursor=cursor)


@router.delete("/{key_id}/")
async def revoke_key(ctx: CurrentUser, key_id: uuid.UUID) -> ApiKeyOut:
    """Revoke: the key stops working at once; it stays listed with `revoked_at`."""
    return ApiKeyOut.model_validate(await service.revoke_key(ctx.uow, ctx.principal, key_id))
