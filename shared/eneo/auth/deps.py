"""FastAPI dependencies that authenticate a request and hand the route a tenant-bound unit of work.

Every authenticated request is also checked against the route's entry in the permission policy
(eneo.permissions.policy.ROUTES), so no route decides its tenant permissions by itself.

The unit of work is a dependency of `scope="function"`: it commits when the route returns, before the
response is sent, so a commit that fails is the client's error response, never a success for a change
that was not saved (the rule is in eneo.core.db).
"""

import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from eneo.api_keys.models import KeyScope
from eneo.auth.principal import Principal, from_access_token, from_api_key
from eneo.auth.rate_limits import within_rate_limits
from eneo.core.db import UnitOfWork
from eneo.core.errors import Forbidden, Unauthorized
from eneo.core.settings import Settings, get_settings
from eneo.permissions.policy import check_route, declared_path


@dataclass
class Context:
    """What a route works with: the caller and one transaction bound to the caller's tenant."""

    principal: Principal
    uow: UnitOfWork
    settings: Settings


def _credentials(request: Request) -> tuple[str, str] | None:
    if key := request.headers.get("x-api-key"):
        return "api_key", key.strip()
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return "token", value.strip()
    return None


async def authenticated(request: Request) -> AsyncIterator[Context]:
    settings = get_settings()
    creds = _credentials(request)
    if creds is None:
        raise Unauthorized("Send a bearer token (Authorization) or an API key (X-API-Key)")
    kind, secret = creds
    async with UnitOfWork() as uow:
        if kind == "api_key":
            principal = await from_api_key(uow, settings, secret)
        else:
            principal = await from_access_token(uow, settings, secret)
        check_route(principal, request.method, _route_path(request))
        await within_rate_limits(settings, principal)
        yield Context(principal, uow, settings)


def _route_path(request: Request) -> str:
    """The matched route's path as declared (`/api/v1/users/{user_id}/`), as the policy's table knows it:
    the request's path with each path parameter's segment named again (read from the request, since
    FastAPI's scope holds the route without its router's prefix). Unknown to the table: the path itself."""
    path, root = request.url.path, request.scope.get("root_path", "")
    if root and path.startswith(root):  # a stage or mount prefix is not part of the declared path
        path = path[len(root):]
    params = {name: str(value) for name, value in request.path_params.items()}
    return declared_path(request.method, path, params) or path


# Commit before the response (the default scope, "request", would exit after it has been sent).
Authenticated = Annotated[Context, Depends(authenticated, scope="function")]


async def user_wide(ctx: Authenticated) -> Context:
    """Everything except assistant-restricted API keys, which only reach their assistant."""
    if ctx.principal.key_scope == KeyScope.assistant:
        raise Forbidden("This API key is restricted to one assistant", code="api_key_scope")
    return ctx


async def sysadmin(request: Request) -> AsyncIterator[UnitOfWork]:
    """The platform operator, identified by the super API key from settings."""
    settings = get_settings()
    given = request.headers.get("x-api-key", "")
    expected = settings.super_api_key.get_secret_value()
    if not given or not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("The sysadmin API key is required (X-API-Key)", code="sysadmin_required")
    async with UnitOfWork(sysadmin=True) as uow:
        yield uow


CurrentUser = Annotated[Context, Depends(user_wide)]
# Also admits API keys restricted to one assistant: only for routes that then check the assistant with
# eneo.assistants.service.usable_assistant, which holds such a key to its own assistant.
AssistantUser = Authenticated
SysAdmin = Annotated[UnitOfWork, Depends(sysadmin, scope="function")]
