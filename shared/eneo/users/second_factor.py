"""A password user's second factor: TOTP enrolment, the code at login, recovery codes, turning it off.

Decisions (and why):
* Enrolment takes the current password, so a stolen access token cannot put the thief's authenticator on
  the account. The secret is shown once (as an otpauth URI) and only counts once a code from it has been
  confirmed, so a user who never finishes is not locked out; starting again replaces an unconfirmed secret.
* The secret is encrypted like a provider's key (eneo.core.crypto), bound to the tenant and user by the
  associated data, since it must be read back to check codes; recovery codes are only ever compared, so only
  their keyed hashes are kept (eneo.core.security.token_hash; 59 random bits each).
* At login the code comes with the password (`otp`): a correct password without one is `401 otp_required`
  and opens no session, and a wrong code is `401 invalid_otp` and counts as a failed login in the same
  throttle as a wrong password (docs/auth.md), so codes cannot be guessed faster than passwords. A wrong
  password says `invalid_credentials` whatever the code, so the answer never tells a guesser that an
  account has a second factor.
* Each accepted code's time step is stored with a conditional UPDATE (only a later step passes), and each
  recovery code is removed with one (only if still there): of two parallel sign-ins with one code, one wins.
* Turning it off takes the password and a code (or a recovery code). A tenant admin can turn it off for a
  user who lost both their phone and their recovery codes (`DELETE /api/v1/users/{id}/totp/`).
"""

from __future__ import annotations

from redis.asyncio import Redis
from sqlalchemy import update

from eneo.auth import totp
from eneo.core.crypto import DecryptionError, aad_for, decrypt_secret, encrypt_secret
from eneo.core.db import UnitOfWork
from eneo.core.errors import BadRequest, Conflict, Unauthorized
from eneo.core.ids import utcnow
from eneo.core.security import token_hash, verify_password
from eneo.core.settings import Settings
from eneo.users import throttle
from eneo.users.models import User
from eneo.users.schemas import RecoveryCodes, TotpEnrolment


def _aad(user: User) -> bytes:
    return aad_for(user.tenant_id, user.id, "totp")


def _secret(user: User) -> str:
    if user.totp_secret_encrypted is None:
        raise Conflict("Start the enrolment first (POST /api/v1/users/me/totp/)", code="totp_not_started")
    try:
        return decrypt_secret(user.totp_secret_encrypted, _aad(user))
    except DecryptionError:
        raise Conflict("The authenticator secret cannot be decrypted with this installation's ENCRYPTION_KEY; "
                       "an administrator can turn the second factor off so that you can enrol again",
                       code="totp_secret_unreadable") from None


async def _check_password(redis: Redis, settings: Settings, user: User, password: str) -> None:
    """The current password, throttled like a password change's (eneo.users.throttle)."""
    attempt = await throttle.start_password_check(redis, settings, user.id)
    if not verify_password(user.password_hash, password):
        raise Unauthorized("The password is wrong", code="invalid_credentials")
    await attempt.succeeded()


async def _use_step(uow: UnitOfWork, user: User, step: int) -> bool:
    """Record `step` as the last one used; False if it (or a later one) was used already."""
    done = (await uow.session.execute(
        update(User).where(User.id == user.id, User.tenant_id == user.tenant_id,
                           (User.totp_last_step.is_(None)) | (User.totp_last_step < step))
        .values(totp_last_step=step).returning(User.id))).scalar_one_or_none()
    return done is not None


async def _use_recovery_code(uow: UnitOfWork, settings: Settings, user: User, code: str) -> bool:
    hashed = token_hash(totp.normalise_recovery_code(code), settings.pepper)
    done = (await uow.session.execute(
        update(User).where(User.id == user.id, User.tenant_id == user.tenant_id,
                           User.totp_recovery_hashes.has_key(hashed))
        .values(totp_recovery_hashes=User.totp_recovery_hashes.op("-")(hashed)).returning(User.id)
    )).scalar_one_or_none()
    return done is not None


async def _throttled_code(uow: UnitOfWork, settings: Settings, redis: Redis, user: User, code: str) -> None:
    """An authenticator code from a signed-in user, throttled like a password check: a stolen session
    cannot guess codes to get recovery codes."""
    attempt = await throttle.start_password_check(redis, settings, user.id)
    if not await accept_code(uow, settings, user, code, recovery=False):
        raise BadRequest("The code is wrong, expired or already used; check the app's clock and try the next "
                         "one", code="invalid_otp")
    await attempt.succeeded()
    await uow.session.refresh(user)


async def accept_code(uow: UnitOfWork, settings: Settings, user: User, code: str, *,
                      recovery: bool = True) -> bool:
    """Whether `code` (an authenticator code, or a recovery code when `recovery`) is good now; using it
    uses it up. The row is updated in place: the caller's transaction commits it."""
    if totp.is_code(code):
        step = totp.matching_step(_secret(user), code, after=user.totp_last_step)
        return step is not None and await _use_step(uow, user, step)
    return recovery and await _use_recovery_code(uow, settings, user, code)


async def check_login(uow: UnitOfWork, settings: Settings, user: User, code: str | None) -> None:
    """The second step of a login whose password was right: nothing to do for a user without TOTP."""
    if not user.totp_enabled:
        return
    if not code:
        raise Unauthorized("Enter the code from your authenticator app (or a recovery code) as otp",
                           code="otp_required")
    if not await accept_code(uow, settings, user, code):
        raise Unauthorized("The code is wrong, expired or already used", code="invalid_otp")
    await uow.session.refresh(user)


async def start(uow: UnitOfWork, settings: Settings, redis: Redis, user: User, password: str) -> TotpEnrolment:
    if user.totp_enabled:
        raise Conflict("The second factor is on already; turn it off first to enrol another app",
                       code="totp_enabled")
    await _check_password(redis, settings, user, password)
    secret = totp.new_secret()
    user.totp_secret_encrypted = encrypt_secret(secret, _aad(user))
    user.totp_last_step = None
    await uow.session.flush()
    return TotpEnrolment(secret=secret, otpauth_uri=totp.provisioning_uri(secret, user.email))


def _new_codes(settings: Settings, user: User) -> RecoveryCodes:
    codes = totp.new_recovery_codes()
    user.totp_recovery_hashes = [token_hash(totp.normalise_recovery_code(c), settings.pepper) for c in codes]
    return RecoveryCodes(recovery_codes=codes)


async def confirm(uow: UnitOfWork, settings: Settings, redis: Redis, user: User, code: str) -> RecoveryCodes:
    """Turn the second factor on with a first code from the app; the recovery codes, shown once."""
    if user.totp_enabled:
        raise Conflict("The second factor is on already", code="totp_enabled")
    _secret(user)  # totp_not_started before any code is counted
    await _throttled_code(uow, settings, redis, user, code)
    user.totp_enabled_at = utcnow()
    codes = _new_codes(settings, user)
    await uow.session.flush()
    return codes


async def renew_recovery_codes(uow: UnitOfWork, settings: Settings, redis: Redis, user: User, code: str
                               ) -> RecoveryCodes:
    """A new set of recovery codes (the old ones stop working), for a code from the app."""
    if not user.totp_enabled:
        raise Conflict("The second factor is off", code="totp_not_enabled")
    await _throttled_code(uow, settings, redis, user, code)
    codes = _new_codes(settings, user)
    await uow.session.flush()
    return codes


def _turn_off(user: User) -> None:
    user.totp_secret_encrypted = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.totp_recovery_hashes = []


async def disable(uow: UnitOfWork, settings: Settings, redis: Redis, user: User, password: str, code: str) -> None:
    if not user.totp_enabled:
        raise Conflict("The second factor is off", code="totp_not_enabled")
    await _check_password(redis, settings, user, password)
    if not await accept_code(uow, settings, user, code):
        raise BadRequest("The code is wrong, expired or already used", code="invalid_otp")
    await uow.session.refresh(user)
    _turn_off(user)
    await uow.session.flush()


async def reset(uow: UnitOfWork, user: User) -> None:
    """A tenant admin turns a user's second factor off (a lost phone and lost recovery codes); the caller
    found `user` as the admin may see it (eneo.users.service.get_user: their own organisation only)."""
    _turn_off(user)
    await uow.session.flush()
