"""Spaces and their members."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from eneo.audit.service import Target, changes, record
from eneo.auth.deps import CurrentUser
from eneo.core.pagination import Page, PageQuery
from eneo.permissions.schemas import SpaceGroupAdd, SpaceGroupUpdate
from eneo.spaces import service
from eneo.spaces.schemas import (
    MemberAdd,
    MemberUpdate,
    SpaceCreate,
    SpaceDetail,
    SpaceOut,
    SpaceUpdate,
    SpaceUpdated,
)

router = APIRouter(prefix="/api/v1/spaces", tags=["spaces"])


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_space(ctx: CurrentUser, body: SpaceCreate) -> SpaceOut:
    """A shared space; its creator becomes its admin."""
    space = await service.create_space(ctx.uow, ctx.principal, body)
    record(ctx.uow, ctx.principal, "space.created", Target("space", space.id, space.name))
    return space


@router.get("/")
async def list_spaces(ctx: CurrentUser, page: Annotated[PageQuery, Depends()]) -> Page[SpaceOut]:
    """The spaces the caller is a member of, personal space included."""
    items, cursor = await service.list_spaces(ctx.uow, ctx.principal, limit=page.limit, cursor=page.cursor)
    return Page(items=items, next_cursor=cursor)


@router.get("/{space_id}/")
async def get_space(ctx: CurrentUser, space_id: uuid.UUID) -> SpaceDetail:
    return await service.get_space(ctx.uow, ctx.principal, space_id)


@router.patch("/{space_id}/")
async def update_space(ctx: CurrentUser, space_id: uuid.UUID, body: SpaceUpdate) -> SpaceUpdated:
    """Space admins. A new `security_classification_id` answers the assistants it stopped."""
    space = await service.update_space(ctx.uow, ctx.principal, space_id, body)
    record(ctx.uow, ctx.principal, "space.updated", Target("space", space.id, space.name),
           details=changes(body))
    return space


@router.delete("/{space_id}/", status_code=status.HTTP_204_NO_CONTENT)
async def delete_space(ctx: CurrentUser, space_id: uuid.UUID) -> Response:
    await service.delete_space(ctx.uow, ctx.principal, space_id)
    record(ctx.uow, ctx.principal, "space.deleted", Target("space", space_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{space_id}/members/", status_code=status.HTTP_201_CREATED)
async def add_member(ctx: CurrentUser, space_id: uuid.UUID, body: MemberAdd) -> SpaceDetail:
    space = await service.add_member(ctx.uow, ctx.principal, space_id, body)
    member = next(m for m in space.members if m.user_id == body.user_id or m.email == str(body.email).lower())
    record(ctx.uow, ctx.principal, "space.member_added", Target("user", member.user_id, member.email),
           details={"space_id": str(space_id), "space": space.name, "role": member.role})
    return space


@router.patch("/{space_id}/members/{user_id}/")
async def update_member(ctx: CurrentUser, space_id: uuid.UUID, user_id: uuid.UUID, body: MemberUpdate
                        ) -> SpaceDetail:
    space = await service.update_member(ctx.uow, ctx.principal, space_id, user_id, body.role)
    email = next((m.email for m in space.members if m.user_id == user_id), None)
    record(ctx.uow, ctx.principal, "space.member_role_changed", Target("user", user_id, email),
           details={"space_id": str(space_id), "space": space.name, "role": body.role})
    return space


@router.delete("/{space_id}/members/{user_id}/", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(ctx: CurrentUser, space_id: uuid.UUID, user_id: uuid.UUID) -> Response:
    await service.remove_member(ctx.uow, ctx.principal, space_id, user_id)
    record(ctx.uow, ctx.principal, "space.member_removed", Target("user", user_id),
           details={"space_id": str(space_id)})
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{space_id}/group-members/", status_code=status.HTTP_201_CREATED)
async def add_group_member(ctx: CurrentUser, space_id: uuid.UUID, body: SpaceGroupAdd) -> SpaceDetail:
    """A user group as a member: each of its members has at least `role` here (the higher of that and a
    direct membership counts)."""
    space = await service.add_group(ctx.uow, ctx.principal, space_id, body.group_id, body.role)
    name = next((g.name for g in space.group_members if g.group_id == body.group_id), None)
    record(ctx.uow, ctx.principal, "space.group_added", Target("user_group", body.group_id, name),
           details={"space_id": str(space_id), "space": space.name, "role": body.role})
    return space


@router.patch("/{space_id}/group-members/{group_id}/")
async def update_group_member(ctx: CurrentUser, space_id: uuid.UUID, group_id: uuid.UUID, body: SpaceGroupUpdate
                              ) -> SpaceDetail:
    space = await service.update_group(ctx.uow, ctx.principal, space_id, group_id, body.role)
    name = next((g.name for g in space.group_members if g.group_id == group_id), None)
    record(ctx.uow, ctx.principal, "space.group_role_changed", Target("user_group", group_id, name),
           details={"space_id": str(space_id), "space": space.name, "role": body.role})
    return space


@router.delete("/{space_id}/group-members/{group_id}/", status_code=status.HTTP_204_NO_CONTENT)
async def remove_group_member(ctx: CurrentUser, space_id: uuid.UUID, group_id: uuid.UUID) -> Response:
    await service.remove_group(ctx.uow, ctx.principal, space_id, group_id)
    record(ctx.uow, ctx.principal, "space.group_removed", Target("user_group", group_id),
           details={"space_id": str(space_id)})
    return Response(status_code=status.HTTP_204_NO_CONTENT)
