"""Single sign-on routes: the sign-in page's options, a sign-in's start and callback, and tenant admins'
provider configuration (docs/auth.md, "Single sign-on")."""

import hmac
import uuid
from typing import Annotated

from fastapi import APIRouter, Cookie, Query, Request, Response, status

from eneo.audit.service import Target, changes, record
from eneo.auth.deps import CurrentUser
from eneo.core.db import UnitOfWork
from eneo.core.errors import BadRequest
from eneo.core.redis import get_redis
from eneo.core.settings import get_settings
from eneo.core.text import Text
from eneo.sso import groups, service
from eneo.sso.models import SsoProvider
from eneo.sso.schemas import (
    SignInOptions,
    SsoCallback,
    SsoProviderCreate,
    SsoProviderOut,
    SsoProviderUpdate,
    SsoStart,
    SsoStarted,
)
from eneo.users.api import _answer, _secure
from eneo.users.schemas import AccessToken

SSO_PATH = "/api/v1/sso/"
STATE_COOKIE = "eneo_sso_state"
router = APIRouter(prefix=SSO_PATH.rstrip("/"), tags=["sso"])


async def _out(uow: UnitOfWork, provider: SsoProvider) -> SsoProviderOut:
    return SsoProviderOut(
        id=provider.id, name=provider.name, issuer=provider.issuer, client_id=provider.client_id,
        has_client_secret=provider.client_secret_encrypted is not None, scopes=provider.scopes,
        role_claim=provider.role_claim, role_mappings=provider.role_mappings,
        group_mappings=await groups.live(uow, provider), default_role=provider.default_role,
        enabled=provider.enabled, password_login=provider.password_login, created_at=provider.created_at,
        updated_at=provider.updated_at)


def _cookie_path(request: Request) -> str:
    path = request.url.path
    return path[: max(path.find(SSO_PATH), 0)] + SSO_PATH


@router.get("/sign-in-options/")
async def sign_in_options(tenant: Annotated[Text | None, Query(max_length=200, description=(
        "The organisation (id or name)"))] = None) -> SignInOptions:
    """Whether the organisation offers single sign-on (the button's label) and still takes passwords."""
    async with UnitOfWork() as uow:
        return await service.sign_in_options(uow, tenant)


@router.post("/start/")
async def start(request: Request, response: Response, body: SsoStart) -> SsoStarted:
    """Begin signing in at the organisation's provider: send the browser to `authorization_url`. The state also
    goes into an httpOnly cookie that the callback needs (the same browser must finish)."""
    async with UnitOfWork() as uow:
        started = await service.start(uow, get_redis(), tenant=body.tenant, redirect_uri=str(body.redirect_uri))
    response.set_cookie(STATE_COOKIE, started.state, max_age=service.STATE_TTL_SECONDS, path=_cookie_path(request),
                        secure=_secure(request), httponly=True, samesite="lax")
    response.headers["Cache-Control"] = "no-store"
    return started


@router.post("/callback/")
async def callback(request: Request, response: Response, body: SsoCallback,
                   eneo_sso_state: Annotated[Text | None, Cookie(include_in_schema=False, max_length=200)] = None,
                   ) -> AccessToken:
    """Finish the sign-in with the `code` and `state` the provider sent the browser back with: a session, as a
    password login opens (`refresh_token_in` likewise)."""
    if not eneo_sso_state or not hmac.compare_digest(eneo_sso_state.encode(), body.state.encode()):
        raise BadRequest("The state is not the one this browser started the sign-in with", code="sso_state_mismatch")
    async with UnitOfWork() as uow:
        signed_in = await service.finish(uow, get_settings(), get_redis(), state=body.state, code=body.code)
    response.delete_cookie(STATE_COOKIE, path=_cookie_path(request), secure=_secure(request), httponly=True,
                           samesite="lax")
    return _answer(request, response, signed_in.issued, cookie=body.refresh_token_in == "cookie")  # noqa: S105


@router.get("/providers/")
async def list_providers(ctx: CurrentUser) -> list[SsoProviderOut]:
    return [await _out(ctx.uow, p) for p in await service.list_providers(ctx.uow, ctx.principal)]


@router.post("/providers/", status_code=status.HTTP_201_CREATED)
async def create_provider(ctx: CurrentUser, body: SsoProviderCreate) -> SsoProviderOut:
    """The organisation's OpenID Connect provider (one at most); the client secret is stored encrypted."""
    provider = await service.create_provider(ctx.uow, ctx.principal, body)
    record(ctx.uow, ctx.principal, "sso_provider.created", Target("sso_provider", provider.id, provider.name),
           details=changes(body))
    return await _out(ctx.uow, provider)


@router.get("/providers/{provider_id}/")
async def get_provider(ctx: CurrentUser, provider_id: uuid.UUID) -> SsoProviderOut:
    return await _out(ctx.uow, await service.get_provider(ctx.uow, ctx.principal, provider_id))


@router.patch("/providers/{provider_id}/")
async def update_provider(ctx: CurrentUser, provider_id: uuid.UUID, body: SsoProviderUpdate) -> SsoProviderOut:
    provider = await service.update_provider(ctx.uow, ctx.principal, provider_id, body)
    record(ctx.uow, ctx.principal, "sso_provider.updated", Target("sso_provider", provider.id, provider.name),
           details=changes(body))
    return await _out(ctx.uow, provider)


@router.delete("/providers/{provider_id}/", status_code=status.HTTP_204_NO_CONTENT)
async def delete_provider(ctx: CurrentUser, provider_id: uuid.UUID) -> Response:
    """Remove single sign-on; password sign-in is on again. Users who came through it keep their accounts
    (without a password: an admin's invitation gives them one)."""
    provider = await service.delete_provider(ctx.uow, ctx.principal, provider_id)
    record(ctx.uow, ctx.principal, "sso_provider.deleted", Target("sso_provider", provider.id, provider.name))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
