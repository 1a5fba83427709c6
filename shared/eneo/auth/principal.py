"""Who is calling: resolved from a JWT or an API key, checked against the database every time.

Checking on each request (not only at login) is what makes deactivation, suspension and key
revocation take effect at once.
"""

import hmac
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select, update

from eneo.api_keys.models import ApiKey, KeyScope
from eneo.auth.models import LoginSession
from eneo.core.db import UnitOfWork
from eneo.core.errors import Forbidden, Unauthorized
from eneo.core.ids import utcnow
from eneo.core.security import decode_access_token, token_hash
from eneo.core.settings import Settings
from eneo.permissions.holders import permissions_of
from eneo.permissions.policy import Permission
from eneo.tenants.models import Tenant, TenantState
from eneo.users.models import User, UserRole, UserState

API_KEY_PREFIX = "eneo"
LAST_USED_RESOLUTION = timedelta(minutes=1)
_KEY_CHARS = re.compile(r"[A-Za-z0-9_-]{1,200}")


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    role: UserRole
    via: Literal["token", "api_key"]
    key_scope: KeyScope | None = None
    assistant_id: uuid.UUID | None = None
    key_id: uuid.UUID | None = None  # the API key used, if any
    generation: int | None = None  # the token's session generation, if a token was used
    session_id: uuid.UUID | None = None  # the token's login session (eneo.auth.sessions), if a token was used
    # What the user's tenant role grants (eneo.permissions.policy); loaded with the user on every request.
    permissions: frozenset[Permission] = frozenset()


async def check_account(uow: UnitOfWork, user_id: uuid.UUID) -> User:
    """The user, if it and its tenant may act now."""
    row = (await uow.session.execute(
        select(User, Tenant.state).join(Tenant, Tenant.id == User.tenant_id).where(User.id == user_id)
    )).first()
    if row is None:
        raise Unauthorized("The account no longer exists", code="invalid_token")
    user, tenant_state = row
    if tenant_state == TenantState.suspended:
        raise Forbidden("Your organisation's account is suspended; contact your administrator",
                        code="tenant_suspended")
    if user.state != UserState.active:
        raise Forbidden("This user account is deactivated", code="user_deactivated")
    return user


async def from_access_token(uow: UnitOfWork, settings: Settings, token: str) -> Principal:
    claims = decode_access_token(settings, token)
    try:
        user_id, tenant_id, session_id = uuid.UUID(claims["sub"]), uuid.UUID(claims["tid"]), uuid.UUID(claims["sid"])
    except (ValueError, TypeError, AttributeError):
        raise Unauthorized("Invalid access token", code="invalid_token") from None
    uow.act_as(tenant_id)
    user = await check_account(uow, user_id)
    if claims.get("gen", 0) != user.session_generation:
        raise Unauthorized("This session ended when the password changed; log in again", code="token_revoked")
    await check_session(uow, session_id)
    return Principal(user.id, user.tenant_id, user.email, user.role, "token", generation=user.session_generation,
                     session_id=session_id, permissions=await permissions_of(uow, user))


async def check_session(uow: UnitOfWork, session_id: uuid.UUID) -> None:
    """Raise 401 `session_ended` unless the login session is open: what makes logout immediate."""
    session = await uow.session.get(LoginSession, session_id)
    if session is None or session.ended_at is not None or session.expires_at <= utcnow():
        raise Unauthorized("This session has ended; log in again", code="session_ended")


def split_api_key(key: str) -> str | None:
    """The public prefix of a well-formed key (`eneo_<prefix>_<secret>`), else None."""
    if not _KEY_CHARS.fullmatch(key):
        return None
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or not parts[1] or len(parts[2]) < 20:
        return None
    return f"{parts[0]}_{parts[1]}"


async def from_api_key(uow: UnitOfWork, settings: Settings, key: str) -> Principal:
    invalid = Unauthorized("Invalid API key", code="invalid_api_key")
    prefix = split_api_key(key)
    if prefix is None:
        raise invalid
    key_id = await uow.locate("auth_find_api_key", prefix)
    api_key = await uow.session.get(ApiKey, key_id) if key_id else None
    if api_key is None or not hmac.compare_digest(api_key.key_hash, token_hash(key, settings.pepper)):
        raise invalid
    now = utcnow()
    _check_key(api_key, now)
    user = await check_account(uow, api_key.user_id)
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        # At most one write a minute per key: a script calling in a loop should not write every request.
        await uow.session.execute(update(ApiKey).where(ApiKey.id == api_key.id).values(last_used_at=now))
    return Principal(user.id, user.tenant_id, user.email, user.role, "api_key", api_key.scope,
                     api_key.assistant_id, key_id=api_key.id, permissions=await permissions_of(uow, user))


def _check_key(api_key: ApiKey, now: datetime) -> None:
    if api_key.revoked_at is not None:
        raise Unauthorized("This API key has been revoked", code="api_key_revoked")
    if api_key.expires_at is not None and api_key.expires_at <= now:
        raise Unauthorized("This API key has expired", code="api_key_expired")


async def recheck(uow: UnitOfWork, user_id: uuid.UUID, *, key_id: uuid.UUID | None, generation: int | None,
                  session_id: uuid.UUID | None = None) -> None:
    """For a long-lived connection authenticated earlier: is that credential still good now?

    The account must still be active; an API key not revoked or expired since; a token's session not
    ended by a password change since (its generation unchanged), nor by logout (`session_id`, when given).
    """
    user = await check_account(uow, user_id)
    if key_id is not None:
        api_key = await uow.session.get(ApiKey, key_id)
        if api_key is None:
            raise Unauthorized("This API key has been deleted", code="api_key_revoked")
        _check_key(api_key, utcnow())
    if generation is not None and generation != user.session_generation:
        raise Unauthorized("This session ended when the password changed; log in again", code="token_revoked")
    if session_id is not None:
        await check_session(uow, session_id)
