"""Login, the caller's own account, invitations, and tenant admins' user management."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from eneo.auth.deps import CurrentUser, TenantAdmin
from eneo.core.db import UnitOfWork
from eneo.core.errors import Forbidden, ValidationFailed
from eneo.core.pagination import Page, PageQuery
from eneo.core.redis import get_redis
from eneo.core.settings import get_settings
from eneo.core.text import storable
from eneo.users import service
from eneo.users.schemas import (
    AccessToken,
    Invitation,
    InvitationAccept,
    PasswordChange,
    UserCreate,
    UserCreated,
    UserOut,
    UserUpdate,
)

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.post("/login/token/")
async def login(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> AccessToken:
    """OAuth2 password flow: `username` is the e-mail address."""
    for field, value in (("username", form.username), ("password", form.password)):
        if not storable(value):
            raise ValidationFailed(f"Invalid request: {field}: must be plain text",
                                   details=[{"field": field, "message": "must be plain text", "type": "value_error"}])
    ip = request.client.host if request.client else "unknown"
    async with UnitOfWork() as uow:
        return await service.login(uow, get_settings(), get_redis(), email=form.username,
                                   password=form.password, client_ip=ip)


@router.post("/invitations/accept/")
async def accept_invitation(body: InvitationAccept) -> UserOut:
    async with UnitOfWork() as uow:
        return await service.accept_invitation(uow, get_settings(), body)


@router.get("/me/")
async def me(ctx: CurrentUser) -> UserOut:
    return UserOut.model_validate(await service.get_user(ctx.uow, ctx.principal, ctx.principal.user_id))


@router.post("/me/password/")
async def change_password(ctx: CurrentUser, body: PasswordChange) -> AccessToken:
    """Change your password. Every other session ends; use the token in the answer from now on."""
    if ctx.principal.via != "token":
        raise Forbidden("Change a password from a logged-in session, not with an API key", code="token_required")
    return await service.change_password(ctx.uow, ctx.settings, ctx.principal, body)


@router.get("/")
async def list_users(ctx: TenantAdmin, page: Annotated[PageQuery, Depends()]) -> Page[UserOut]:
    rows, cursor = await service.list_users(ctx.uow, ctx.principal, limit=page.limit, cursor=page.cursor)
    return Page(items=[UserOut.model_validate(u) for u in rows], next_cursor=cursor)


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_user(ctx: TenantAdmin, body: UserCreate) -> UserCreated:
    """Create a user with a password, or invite one (no password: a one-time invitation token)."""
    return await service.create_user(ctx.uow, ctx.settings, ctx.principal.tenant_id, body)


@router.get("/{user_id}/")
async def get_user(ctx: CurrentUser, user_id: uuid.UUID) -> UserOut:
    return UserOut.model_validate(await service.get_user(ctx.uow, ctx.principal, user_id))


@router.patch("/{user_id}/")
async def update_user(ctx: TenantAdmin, user_id: uuid.UUID, body: UserUpdate) -> UserOut:
    """Rename, change role, or deactivate (`state: deactivated`) and reactivate (`state: active`)."""
    return UserOut.model_validate(await service.update_user(ctx.uow, ctx.principal, user_id, body))


@router.post("/{user_id}/invitation/", status_code=status.HTTP_201_CREATED)
async def reissue_invitation(ctx: TenantAdmin, user_id: uuid.UUID) -> Invitation:
    """A new one-time invitation: re-invite someone whose invitation expired, or let a user who forgot
    their password set a new one (their old password works until they do)."""
    return await service.reissue_invitation(ctx.uow, ctx.settings, ctx.principal, user_id)


@router.delete("/{user_id}/", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(ctx: TenantAdmin, user_id: uuid.UUID) -> Response:
    await service.delete_user(ctx.uow, ctx.principal, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
