"""Tenant roles (`/api/v1/roles/`) and user groups (`/api/v1/user-groups/`); who may call what is in
eneo.permissions.policy.ROUTES like every other route."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from eneo.auth.deps import CurrentUser
from eneo.core.pagination import Page, PageQuery
from eneo.permissions.schemas import (
    GroupMemberAdd,
    RoleCreate,
    RoleList,
    RoleOut,
    RoleUpdate,
    UserGroupCreate,
    UserGroupDetail,
    UserGroupOut,
    UserGroupUpdate,
)
from eneo.users import groups as group_service
from eneo.users import roles as role_service

roles = APIRouter(prefix="/api/v1/roles", tags=["roles"])
user_groups = APIRouter(prefix="/api/v1/user-groups", tags=["user groups"])


@roles.get("/")
async def list_roles(ctx: CurrentUser) -> RoleList:
    """The two built-in roles (fixed ids), then the organisation's own, by name."""
    return RoleList(items=await role_service.list_roles(ctx.uow, ctx.principal))


@roles.post("/", status_code=status.HTTP_201_CREATED)
async def create_role(ctx: CurrentUser, body: RoleCreate) -> RoleOut:
    return await role_service.create_role(ctx.uow, ctx.principal, body)


@roles.get("/{role_id}/")
async def get_role(ctx: CurrentUser, role_id: uuid.UUID) -> RoleOut:
    return await role_service.get_role(ctx.uow, ctx.principal, role_id)


@roles.patch("/{role_id}/")
async def update_role(ctx: CurrentUser, role_id: uuid.UUID, body: RoleUpdate) -> RoleOut:
    """Takes effect at the holders' next request. The built-in roles answer 409 `builtin_role`."""
    return await role_service.update_role(ctx.uow, ctx.principal, role_id, body)


@roles.delete("/{role_id}/", status_code=status.HTTP_204_NO_CONTENT)
async def delete_role(ctx: CurrentUser, role_id: uuid.UUID) -> Response:
    """Refused with 409 `role_in_use` while users hold it."""
    await role_service.delete_role(ctx.uow, ctx.principal, role_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@user_groups.get("/")
async def list_user_groups(ctx: CurrentUser, page: Annotated[PageQuery, Depends()]) -> Page[UserGroupOut]:
    items, cursor = await group_service.list_groups(ctx.uow, ctx.principal, limit=page.limit, cursor=page.cursor)
    return Page(items=items, next_cursor=cursor)


@user_groups.post("/", status_code=status.HTTP_201_CREATED)
async def create_user_group(ctx: CurrentUser, body: UserGroupCreate) -> UserGroupDetail:
    return await group_service.create_group(ctx.uow, ctx.principal, body)


@user_groups.get("/{group_id}/")
async def get_user_group(ctx: CurrentUser, group_id: uuid.UUID) -> UserGroupDetail:
    return await group_service.get_group(ctx.uow, ctx.principal, group_id)


@user_groups.patch("/{group_id}/")
async def update_user_group(ctx: CurrentUser, group_id: uuid.UUID, body: UserGroupUpdate) -> UserGroupDetail:
    return await group_service.update_group(ctx.uow, ctx.principal, group_id, body)


@user_groups.delete("/{group_id}/", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user_group(ctx: CurrentUser, group_id: uuid.UUID) -> Response:
    await group_service.delete_group(ctx.uow, ctx.principal, group_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@user_groups.post("/{group_id}/members/", status_code=status.HTTP_201_CREATED)
async def add_user_group_member(ctx: CurrentUser, group_id: uuid.UUID, body: GroupMemberAdd) -> UserGroupDetail:
    return await group_service.add_member(ctx.uow, ctx.principal, group_id, body.user_id)


@user_groups.delete("/{group_id}/members/{user_id}/", status_code=status.HTTP_204_NO_CONTENT)
async def remove_user_group_member(ctx: CurrentUser, group_id: uuid.UUID, user_id: uuid.UUID) -> Response:
    await group_service.remove_member(ctx.uow, ctx.principal, group_id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
