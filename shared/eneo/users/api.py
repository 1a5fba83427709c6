"""Login, the caller's own account, invitations, and tenant admins' user management."""

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Cookie, Depends, Form, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from eneo.audit.service import Target, changes, record
from eneo.auth import sessions
from eneo.auth.deps import CurrentUser
from eneo.auth.principal import from_access_token
from eneo.auth.sessions import Issued
from eneo.core.db import UnitOfWork
from eneo.core.errors import Forbidden, Unauthorized, ValidationFailed
from eneo.core.pagination import Page, PageQuery
from eneo.core.redis import get_redis
from eneo.core.settings import get_settings
from eneo.core.text import Text, storable
from eneo.users import second_factor, service
from eneo.users.schemas import (
    AccessToken,
    Invitation,
    InvitationAccept,
    PasswordChange,
    RecoveryCodes,
    RefreshRequest,
    TotpCode,
    TotpDisable,
    TotpEnrolment,
    TotpStart,
    UserCreate,
    UserCreated,
    UserMe,
    UserOut,
    UserUpdate,
)

USERS_PATH = "/api/v1/users/"
REFRESH_COOKIE = "eneo_refresh"
RefreshCookie = Annotated[Text | None, Cookie(include_in_schema=False, max_length=200)]  # named REFRESH_COOKIE
router = APIRouter(prefix=USERS_PATH.rstrip("/"), tags=["users"])


@router.post("/login/token/")
async def login(request: Request, response: Response, form: Annotated[OAuth2PasswordRequestForm, Depends()],
                tenant: Annotated[Text | None, Form(max_length=200, description=(
                    "The organisation (id or name) when your e-mail has accounts in several; else the oldest"))] = None,
                refresh_token_in: Annotated[Literal["body", "cookie"], Form(description=(
                    "Where the refresh token goes: the answer (API clients) or an httpOnly cookie (browsers)"))]
                = "body",  # noqa: S107 - a place, not a password
                otp: Annotated[Text | None, Form(max_length=64, description=(
                    "With a second factor: the authenticator app's code, or a recovery code"))] = None,
                ) -> AccessToken:
    """OAuth2 password flow: `username` is the e-mail address. Opens a session (docs/auth.md)."""
    for field, value in (("username", form.username), ("password", form.password)):
        if not storable(value):
            raise ValidationFailed(f"Invalid request: {field}: must be plain text",
                                   details=[{"field": field, "message": "must be plain text", "type": "value_error"}])
    ip = request.client.host if request.client else "unknown"
    async with UnitOfWork() as uow:
        issued = await service.login(uow, get_settings(), get_redis(), email=form.username,
                                     password=form.password, client_ip=ip, tenant=tenant, otp=otp)
    return _answer(request, response, issued, cookie=refresh_token_in == "cookie")  # noqa: S105


@router.post("/login/refresh/")
async def refresh(request: Request, response: Response, body: RefreshRequest | None = None,
                  eneo_refresh: RefreshCookie = None) -> AccessToken:
    """A new access token and refresh token for a refresh token (in the body, or the browser's cookie).

    Each refresh token works once; a replaced one presented again ends the session (`refresh_token_reused`).
    """
    token, cookie = _refresh_token(body, eneo_refresh)
    async with UnitOfWork() as uow:
        issued = await sessions.refresh(uow, get_settings(), token)
    return _answer(request, response, issued, cookie=cookie)


@router.post("/logout/", status_code=status.HTTP_204_NO_CONTENT)
async def logout(request: Request, body: RefreshRequest | None = None,
                 eneo_refresh: RefreshCookie = None) -> Response:
    """End this session now: its access and refresh tokens stop working. Send the refresh token (body or
    cookie) or the access token (Authorization: Bearer). Other sessions and API keys are not affected."""
    settings = get_settings()
    async with UnitOfWork() as uow:
        if (body and body.refresh_token) or eneo_refresh:
            ended = await sessions.end_by_refresh_token(uow, settings, _refresh_token(body, eneo_refresh)[0])
        else:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthorized("Send the session's refresh token or access token")
            principal = await from_access_token(uow, settings, token.strip())
            assert principal.session_id is not None
            await sessions.end(uow, ended := principal.session_id)
        await uow.commit()
    await sessions.announce_ended(get_redis(), ended)  # open WebSockets of this session stop relaying
    done = Response(status_code=status.HTTP_204_NO_CONTENT)
    done.delete_cookie(REFRESH_COOKIE, path=_cookie_path(request), secure=_secure(request), httponly=True,
                       samesite="strict")
    return done


def _refresh_token(body: RefreshRequest | None, cookie: str | None) -> tuple[str, bool]:
    """The refresh token sent, and whether it came as the cookie (then the new one goes there too)."""
    if body is not None and body.refresh_token:
        return body.refresh_token, False
    if cookie:
        return cookie, True
    raise Unauthorized("Send the refresh token (refresh_token in the body, or the eneo_refresh cookie)",
                       code="invalid_refresh_token")


def _cookie_path(request: Request) -> str:
    """`/api/v1/users/` under whatever prefix the gateway put before it: login, refresh and logout only."""
    path = request.url.path
    return path[: max(path.find(USERS_PATH), 0)] + USERS_PATH


def _secure(request: Request) -> bool:
    """Secure everywhere but plain HTTP on this machine (the local stack), where browsers would drop it."""
    return request.url.scheme == "https" or request.url.hostname not in ("localhost", "127.0.0.1", "::1")


def _answer(request: Request, response: Response, issued: Issued, *, cookie: bool) -> AccessToken:
    response.headers["Cache-Control"] = "no-store"  # RFC 6749 5.1: tokens are never cached
    if cookie and issued.refresh_token is not None:
        response.set_cookie(REFRESH_COOKIE, issued.refresh_token, max_age=issued.refresh_expires_in,
                            path=_cookie_path(request), secure=_secure(request), httponly=True, samesite="strict")
    return AccessToken(access_token=issued.access_token, expires_in=issued.expires_in,
                       refresh_token=None if cookie else issued.refresh_token,
                       refresh_expires_in=issued.refresh_expires_in)


@router.post("/invitations/accept/")
async def accept_invitation(body: InvitationAccept) -> UserOut:
    async with UnitOfWork() as uow:
        return await service.accept_invitation(uow, get_settings(), body)


@router.get("/me/")
async def me(ctx: CurrentUser) -> UserMe:
    """The caller, with the permissions their role grants (the web client hides what they cannot do)."""
    user = UserOut.model_validate(await service.get_user(ctx.uow, ctx.principal, ctx.principal.user_id))
    return UserMe(**user.model_dump(), permissions=sorted(ctx.principal.permissions))


@router.post("/me/password/")
async def change_password(ctx: CurrentUser, body: PasswordChange, request: Request, response: Response,
                          eneo_refresh: RefreshCookie = None) -> AccessToken:
    """Change your password. Every session ends, this one too: use the new session's tokens in the answer
    (its refresh token goes where this session's was: the cookie if you sent one)."""
    if ctx.principal.via != "token":
        raise Forbidden("Change a password from a logged-in session, not with an API key", code="token_required")
    issued = await service.change_password(ctx.uow, ctx.settings, get_redis(), ctx.principal, body)
    return _answer(request, response, issued, cookie=eneo_refresh is not None)


def _from_a_session(ctx: CurrentUser) -> None:
    if ctx.principal.via != "token":
        raise Forbidden("Manage your second factor from a logged-in session, not with an API key",
                        code="token_required")


@router.post("/me/totp/", status_code=status.HTTP_201_CREATED)
async def start_totp(ctx: CurrentUser, body: TotpStart) -> TotpEnrolment:
    """Start enrolling an authenticator app (with your password): the secret is shown once; it counts from
    the first code confirmed (`POST …/me/totp/confirm/`). Again before confirming: a new secret."""
    _from_a_session(ctx)
    user = await service.get_user(ctx.uow, ctx.principal, ctx.principal.user_id)
    return await second_factor.start(ctx.uow, ctx.settings, get_redis(), user, body.password)


@router.post("/me/totp/confirm/")
async def confirm_totp(ctx: CurrentUser, body: TotpCode) -> RecoveryCodes:
    """Turn the second factor on with a code from the app; the answer's recovery codes are shown once."""
    _from_a_session(ctx)
    user = await service.get_user(ctx.uow, ctx.principal, ctx.principal.user_id)
    return await second_factor.confirm(ctx.uow, ctx.settings, get_redis(), user, body.code)


@router.post("/me/totp/recovery-codes/")
async def renew_recovery_codes(ctx: CurrentUser, body: TotpCode) -> RecoveryCodes:
    """New recovery codes for a code from the app; the earlier ones stop working."""
    _from_a_session(ctx)
    user = await service.get_user(ctx.uow, ctx.principal, ctx.principal.user_id)
    return await second_factor.renew_recovery_codes(ctx.uow, ctx.settings, get_redis(), user, body.code)


@router.post("/me/totp/disable/", status_code=status.HTTP_204_NO_CONTENT)
async def disable_totp(ctx: CurrentUser, body: TotpDisable) -> Response:
    """Turn the second factor off, with your password and a code (or a recovery code)."""
    _from_a_session(ctx)
    user = await service.get_user(ctx.uow, ctx.principal, ctx.principal.user_id)
    await second_factor.disable(ctx.uow, ctx.settings, get_redis(), user, body.password, body.code)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/")
async def list_users(ctx: CurrentUser, page: Annotated[PageQuery, Depends()]) -> Page[UserOut]:
    rows, cursor = await service.list_users(ctx.uow, ctx.principal, limit=page.limit, cursor=page.cursor)
    return Page(items=[UserOut.model_validate(u) for u in rows], next_cursor=cursor)


@router.post("/", status_code=status.HTTP_201_CREATED)
async def create_user(ctx: CurrentUser, body: UserCreate) -> UserCreated:
    """Create a user with a password, or invite one (no password: a one-time invitation token)."""
    created = await service.create_user(ctx.uow, ctx.settings, ctx.principal.tenant_id, body)
    record(ctx.uow, ctx.principal, "user.created", Target("user", created.id, created.email),
           details={"role": created.role, "role_id": str(created.role_id), "state": created.state})
    return created


@router.get("/{user_id}/")
async def get_user(ctx: CurrentUser, user_id: uuid.UUID) -> UserOut:
    return UserOut.model_validate(await service.get_user(ctx.uow, ctx.principal, user_id))


@router.patch("/{user_id}/")
async def update_user(ctx: CurrentUser, user_id: uuid.UUID, body: UserUpdate) -> UserOut:
    """Rename, change role, or deactivate (`state: deactivated`) and reactivate (`state: active`)."""
    user = await service.update_user(ctx.uow, ctx.principal, user_id, body)
    record(ctx.uow, ctx.principal, "user.updated", Target("user", user.id, user.email),
           details=changes(body))
    return UserOut.model_validate(user)


@router.post("/{user_id}/invitation/", status_code=status.HTTP_201_CREATED)
async def reissue_invitation(ctx: CurrentUser, user_id: uuid.UUID) -> Invitation:
    """A new one-time invitation: re-invite someone whose invitation expired, or let a user who forgot
    their password set a new one (their old password works until they do)."""
    invitation = await service.reissue_invitation(ctx.uow, ctx.settings, ctx.principal, user_id)
    record(ctx.uow, ctx.principal, "user.invited", Target("user", user_id))
    return invitation


@router.delete("/{user_id}/totp/", status_code=status.HTTP_204_NO_CONTENT)
async def reset_totp(ctx: CurrentUser, user_id: uuid.UUID) -> Response:
    """Turn a user's second factor off, for someone who lost their authenticator and recovery codes."""
    await second_factor.reset(ctx.uow, await service.get_user(ctx.uow, ctx.principal, user_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/{user_id}/", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(ctx: CurrentUser, user_id: uuid.UUID) -> Response:
    await service.delete_user(ctx.uow, ctx.principal, user_id)
    record(ctx.uow, ctx.principal, "user.deleted", Target("user", user_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
