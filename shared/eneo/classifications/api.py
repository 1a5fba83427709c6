"""Security classifications: every user reads the levels (space admins pick one), tenant admins change them."""

import uuid

from fastapi import APIRouter, Response, status

from eneo.auth.deps import CurrentUser
from eneo.classifications import service
from eneo.classifications.schemas import (
    ClassificationCreate,
    ClassificationList,
    ClassificationOut,
    ClassificationUpdate,
    Reorder,
    Reordered,
)

router = APIRouter(prefix="/api/v1/security-classifications", tags=["security classifications"])


@router.get("/")
async def list_levels(ctx: CurrentUser) -> ClassificationList:
    """The organisation's levels, lowest first (unclassified is below them all)."""
    return ClassificationList(items=await service.list_levels(ctx.uow, ctx.principal))


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_level(ctx: CurrentUser, body: ClassificationCreate) -> ClassificationOut:
    """A new level, placed above the existing ones; `reorder` moves it."""
    return await service.create_level(ctx.uow, ctx.principal, body)


@router.post("/reorder/")
async def reorder(ctx: CurrentUser, body: Reorder) -> Reordered:
    """Give every level's id, lowest first. Answers the assistants the new order stopped."""
    return await service.reorder(ctx.uow, ctx.principal, body.ids)


@router.get("/{level_id}/")
async def get_level(ctx: CurrentUser, level_id: uuid.UUID) -> ClassificationOut:
    return await service.get_level(ctx.uow, ctx.principal, level_id)


@router.patch("/{level_id}/")
async def update_level(ctx: CurrentUser, level_id: uuid.UUID, body: ClassificationUpdate) -> ClassificationOut:
    return await service.update_level(ctx.uow, ctx.principal, level_id, body)


@router.delete("/{level_id}/", status_code=status.HTTP_204_NO_CONTENT)
async def delete_level(ctx: CurrentUser, level_id: uuid.UUID) -> Response:
    """Refused (409 `classification_in_use`, with counts) while a space or model carries the level."""
    await service.delete_level(ctx.uow, ctx.principal, level_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
