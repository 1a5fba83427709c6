"""Secrets: password hashing, access tokens, and keyed hashes of high-entropy tokens."""

import hashlib
import hmac
import secrets
import uuid
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from eneo.core.errors import Unauthorized
from eneo.core.ids import utcnow
from eneo.core.settings import Settings

_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verifying against this keeps a login for an unknown account as slow as for a known one.

    Made on first use: hashing at import would add ~100 ms to every cold start.
    """
    return _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def token_hash(token: str, pepper: bytes) -> str:
    """HMAC-SHA256 of a random token (API key, invitation, refresh token).

    These tokens carry 190+ bits of entropy, so a slow hash adds nothing; the pepper means a leaked
    table alone is not enough to test guesses.
    """
    return hmac.new(pepper, token.encode(), hashlib.sha256).hexdigest()


def random_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def create_access_token(settings: Settings, *, user_id: uuid.UUID, tenant_id: uuid.UUID, session_id: uuid.UUID,
                        generation: int = 0, not_after: datetime | None = None) -> tuple[str, int]:
    """A signed JWT and its lifetime in seconds (JWT_EXPIRY_MINUTES, cut at `not_after`, its session's end).

    `sid` is the login session (eneo.auth.sessions) checked on every request; `generation` the user's
    session generation, which a password change raises.
    """
    now = utcnow()
    expires = now + timedelta(minutes=settings.jwt_expiry_minutes)
    if not_after is not None:
        expires = min(expires, not_after)
    claims = {"sub": str(user_id), "tid": str(tenant_id), "sid": str(session_id), "gen": generation, "iat": now,
              "exp": expires, "typ": "access"}
    token = jwt.encode(claims, settings.jwt_secret.get_secret_value(), algorithm=settings.jwt_algorithm)
    return token, max(int((expires - now).total_seconds()), 0)


def decode_access_token(settings: Settings, token: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token, settings.jwt_secret.get_secret_value(), algorithms=[settings.jwt_algorithm],
            options={"require": ["sub", "tid", "sid", "exp"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("Access token expired", code="token_expired") from None
    except jwt.PyJWTError:
        raise Unauthorized("Invalid access token", code="invalid_token") from None
    if claims.get("typ") != "access":
        raise Unauthorized("Invalid access token", code="invalid_token")
    return claims
