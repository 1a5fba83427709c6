"""Login sessions: short-lived access tokens, a rotating refresh token, and logout (ASVS V3.3, V3.5).

A login opens a session (a `login_sessions` row). Its access tokens (JWT, `sid` claim) live
JWT_EXPIRY_MINUTES (15); every request checks the session, so ending it stops them at once. The refresh
token (`<session id>.<secret>`, only its keyed hash is kept) buys a new access token and is replaced by
a new one each time (rotation). Presenting a replaced refresh token is reuse: someone holds a copy, so
the session ends for both (reuse detection), except within REFRESH_REUSE_GRACE_SECONDS of the
replacement, when it only gets an access token (two tabs that refreshed at once). A session ends when
not refreshed for SESSION_IDLE_MINUTES (30), SESSION_MAX_HOURS (12) after the login, at logout, and at
a password change (all of the user's sessions). API keys are not sessions and are not affected.
"""

import hmac
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis.asyncio import Redis
from sqlalchemy import delete, update

from eneo.auth.models import LoginSession
from eneo.auth.principal import check_account
from eneo.core.db import UnitOfWork
from eneo.core.errors import Unauthorized
from eneo.core.ids import new_id, utcnow
from eneo.core.security import create_access_token, random_token, token_hash
from eneo.core.settings import Settings
from eneo.users.models import User

log = logging.getLogger("eneo.auth")

# Open WebSocket relays cannot ask the database at every frame; a logout also leaves this mark in Redis, which
# a relay reads in the round trip of each of its stream reads (eneo.realtime.connections.queue_relay_state), so a
# logged-out session's socket gets no further frame. Kept longer than any connection lives (API Gateway: 2 h).
ENDED_MARK_TTL_SECONDS = 3 * 60 * 60


def ended_key(session_id: uuid.UUID | str) -> str:
    return f"auth:session-ended:{session_id}"


async def announce_ended(redis: Redis, session_id: uuid.UUID) -> None:
    """Mark the (committed) end of a session for open WebSocket relays. Best effort: without Redis, a relay still
    learns it from the database at its next subscribe or wake-up."""
    try:
        await redis.set(ended_key(session_id), "1", ex=ENDED_MARK_TTL_SECONDS)
    except Exception as exc:
        log.warning("a session's end was not announced to open WebSockets", extra={"error": type(exc).__name__})


@dataclass(frozen=True)
class Issued:
    access_token: str
    expires_in: int  # seconds
    refresh_token: str | None  # None: the grace answer to a just-replaced token carries no new one
    refresh_expires_in: int  # seconds until the session idles out, unless refreshed before


def _invalid() -> Unauthorized:
    return Unauthorized("Invalid refresh token; log in again", code="invalid_refresh_token")


def _ended() -> Unauthorized:
    return Unauthorized("This session has ended; log in again", code="session_ended")


def _issue(settings: Settings, user: User, session: LoginSession, refresh_token: str | None,
           now: datetime) -> Issued:
    access, expires_in = create_access_token(settings, user_id=user.id, tenant_id=user.tenant_id,
                                             session_id=session.id, generation=user.session_generation,
                                             not_after=session.expires_at)
    return Issued(access, expires_in, refresh_token, max(int((session.idle_expires_at - now).total_seconds()), 0))


def _new_refresh(settings: Settings, session_id: uuid.UUID) -> tuple[str, str]:
    token = f"{session_id}.{random_token()}"
    return token, token_hash(token, settings.pepper)


async def open_session(uow: UnitOfWork, settings: Settings, user: User) -> Issued:
    """A new session for `user` (already verified), and its first tokens.

    Drops the user's sessions past their absolute end; ended ones stay until then, so their tokens are
    answered `session_ended` rather than "invalid", and a user keeps at most a day's logins.
    """
    now = utcnow()
    await uow.session.execute(delete(LoginSession).where(LoginSession.user_id == user.id,
                                                         LoginSession.expires_at <= now))
    session_id = new_id()
    token, hashed = _new_refresh(settings, session_id)
    expires = now + timedelta(hours=settings.session_max_hours)
    session = LoginSession(id=session_id, tenant_id=user.tenant_id, user_id=user.id, refresh_hash=hashed,
                           rotated_at=now, expires_at=expires,
                           idle_expires_at=min(now + timedelta(minutes=settings.session_idle_minutes), expires))
    uow.session.add(session)
    await uow.session.flush()
    return _issue(settings, user, session, token, now)


async def _locate(uow: UnitOfWork, token: str) -> LoginSession:
    """The session a refresh token names (locked for the rest of the transaction), bound to its tenant."""
    sid, _, secret = token.partition(".")
    try:
        session_id = uuid.UUID(sid)
    except ValueError:
        raise _invalid() from None
    if not secret or await uow.locate("auth_find_session", str(session_id)) is None:
        raise _invalid()
    session = await uow.session.get(LoginSession, session_id, with_for_update=True)
    if session is None:
        raise _invalid()
    return session


def _matches(hashed: str | None, token_hashed: str) -> bool:
    return hashed is not None and hmac.compare_digest(hashed, token_hashed)


async def refresh(uow: UnitOfWork, settings: Settings, token: str) -> Issued:
    """A new access token and a new refresh token for a valid refresh token; reuse ends the session."""
    session = await _locate(uow, token)
    now = utcnow()
    if session.ended_at is not None or session.expires_at <= now or session.idle_expires_at <= now:
        raise _ended()
    presented = token_hash(token, settings.pepper)
    if _matches(session.refresh_hash, presented):
        new_token, new_hash = _new_refresh(settings, session.id)
        session.previous_hash, session.refresh_hash, session.rotated_at = session.refresh_hash, new_hash, now
        session.idle_expires_at = min(now + timedelta(minutes=settings.session_idle_minutes), session.expires_at)
    elif (_matches(session.previous_hash, presented)
          and now - session.rotated_at <= timedelta(seconds=settings.refresh_reuse_grace_seconds)):
        new_token = None  # a second tab that refreshed at the same moment: an access token, nothing to rotate
    else:
        session.ended_at = now
        await uow.commit()  # ended even though the answer is an error
        raise Unauthorized("This refresh token was already used, so the session has ended; log in again",
                           code="refresh_token_reused")
    user = await check_account(uow, session.user_id)
    await uow.session.flush()
    return _issue(settings, user, session, new_token, now)


async def end_by_refresh_token(uow: UnitOfWork, settings: Settings, token: str) -> uuid.UUID:
    """Logout with a refresh token (the current one or the one it just replaced); the session's id."""
    session = await _locate(uow, token)
    presented = token_hash(token, settings.pepper)
    if not (_matches(session.refresh_hash, presented) or _matches(session.previous_hash, presented)):
        raise _invalid()
    session.ended_at = session.ended_at or utcnow()
    await uow.session.flush()
    return session.id


async def end(uow: UnitOfWork, session_id: uuid.UUID) -> None:
    """Logout with an access token: its session (already bound to the caller's tenant) ends now."""
    await uow.session.execute(update(LoginSession).where(
        LoginSession.id == session_id, LoginSession.ended_at.is_(None)).values(ended_at=utcnow()))


async def end_all(uow: UnitOfWork, user_id: uuid.UUID) -> None:
    """Every session of the user ends (a password change, an accepted invitation)."""
    await uow.session.execute(update(LoginSession).where(
        LoginSession.user_id == user_id, LoginSession.ended_at.is_(None)).values(ended_at=utcnow()))

