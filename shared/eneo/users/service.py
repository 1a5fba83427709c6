"""User use cases: login, invitations, and the tenant admin's management of users."""

import uuid
from datetime import timedelta

from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from eneo.audit.models import ActorType, Outcome
from eneo.audit.service import Actor, Target, record
from eneo.auth import sessions
from eneo.auth.passwords import check_password
from eneo.auth.principal import Principal, check_account
from eneo.auth.sessions import Issued
from eneo.core.db import UnitOfWork
from eneo.core.errors import AppError, BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from eneo.core.ids import utcnow
from eneo.core.pagination import paginate
from eneo.core.security import hash_password, random_token, token_hash, verify_password
from eneo.core.settings import Settings
from eneo.knowledge.models import Group
from eneo.permissions.policy import Permission, allows
from eneo.spaces.models import Space
from eneo.spaces.service import create_personal_space, delete_collection_files
from eneo.sso.models import SsoProvider
from eneo.users import second_factor, throttle
from eneo.users.models import User, UserRole, UserState
from eneo.users.roles import assign_role
from eneo.users.schemas import (
    Invitation,
    InvitationAccept,
    PasswordChange,
    UserCreate,
    UserCreated,
    UserOut,
    UserUpdate,
)


async def login(uow: UnitOfWork, settings: Settings, redis: Redis, *, email: str, password: str,
                client_ip: str, tenant: str | None = None, otp: str | None = None) -> Issued:
    """Password login, throttled before the password is verified (eneo.users.throttle); opens a session.

    The account is the address's in `tenant` (an id or a name) when one is named, else its oldest: an
    address may belong to several organisations (eneo.users.models). A user with a second factor also
    sends `otp` (eneo.users.second_factor).
    """
    email = email.strip().lower()
    attempt = await throttle.start_login(redis, settings, email=email, client_ip=client_ip)
    user_id = await uow.locate("auth_find_user_by_email", email, (tenant or "").strip())
    user = await uow.session.get(User, user_id) if user_id else None
    if not verify_password(user.password_hash if user else None, password) or user is None:
        if user is not None:  # an address no organisation has is nobody's event (throttled all the same)
            await _failed(uow, user, "auth.login", "invalid_credentials")
        raise Unauthorized("Wrong e-mail or password", code="invalid_credentials")
    try:
        await check_account(uow, user.id)
        if await _password_login_off(uow, user.tenant_id):
            raise Forbidden("Your organisation signs in through its single sign-on provider only",
                            code="password_login_disabled")
    except AppError as refused:
        await _failed(uow, user, "auth.login", refused.code)
        raise
    try:
        await second_factor.check_login(uow, settings, user, otp)
    except Unauthorized as exc:
        if exc.code == "otp_required":  # the right password: not a failure, the code is asked for next
            await attempt.released()
        else:  # invalid_otp: a refused sign-in like a wrong password
            await _failed(uow, user, "auth.login", exc.code)
        raise
    user.last_login_at = utcnow()
    issued = await sessions.open_session(uow, settings, user)
    record(uow, Actor(ActorType.user, user.id, user.email), "auth.login", _target(user), tenant_id=user.tenant_id)
    await uow.commit()  # saved before the failed-login count is cleared and a token handed out
    await attempt.succeeded()
    return issued


async def _password_login_off(uow: UnitOfWork, tenant_id: uuid.UUID) -> bool:
    """Whether the tenant turned password sign-in off for its enabled single sign-on provider (eneo.sso)."""
    return bool(await uow.session.scalar(select(SsoProvider.id).where(
        SsoProvider.tenant_id == tenant_id, SsoProvider.enabled, SsoProvider.password_login.is_(False))))


def _target(user: User) -> Target:
    return Target("user", user.id, user.email)


async def _failed(uow: UnitOfWork, user: User, action: str, code: str) -> None:
    """Record a refused attempt on `user`'s account and commit it (nothing else of the attempt was written):
    the error that follows rolls the request's transaction back."""
    record(uow, Actor(ActorType.anonymous, user.id, user.email), action, _target(user), outcome=Outcome.failure,
           tenant_id=user.tenant_id, details={"code": code})
    await uow.commit()


async def create_user(uow: UnitOfWork, settings: Settings, tenant_id: uuid.UUID, data: UserCreate) -> UserCreated:
    """Create (with a password) or invite (without) a user, with their personal space."""
    if data.password is not None:
        check_password(data.password, email=data.email)
    user = User(
        tenant_id=tenant_id, email=data.email.lower(), name=data.name, role=data.role, role_id=None,
        password_hash=hash_password(data.password) if data.password else None,
        state=UserState.active if data.password else UserState.invited,
    )
    if data.role_id is not None:
        await assign_role(uow, tenant_id, user, data.role_id)
    invitation = None if data.password else _new_invitation(settings, user)
    uow.session.add(user)
    try:
        await uow.session.flush()
    except IntegrityError:
        await uow.rollback()
        raise Conflict("A user with this e-mail already exists", code="email_taken") from None
    await create_personal_space(uow, user)
    await uow.session.flush()
    return UserCreated(**UserOut.model_validate(user).model_dump(), invitation_token=invitation)


def _new_invitation(settings: Settings, user: User) -> str:
    """A one-time token that lets `user` set a password; only its keyed hash is kept."""
    token = random_token()
    user.invite_token_hash = token_hash(token, settings.pepper)
    user.invite_expires_at = utcnow() + timedelta(hours=settings.invite_expiry_hours)
    return token


async def reissue_invitation(uow: UnitOfWork, settings: Settings, p: Principal, user_id: uuid.UUID) -> Invitation:
    """A fresh invitation (the old one stops working): to re-invite, or to let a user who forgot their
    password set a new one. Their current password keeps working until the invitation is accepted."""
    user = await get_user(uow, p, user_id)
    if user.state == UserState.deactivated:
        raise Conflict("Reactivate the user before inviting them again", code="user_deactivated")
    token = _new_invitation(settings, user)
    await uow.session.flush()
    assert user.invite_expires_at is not None
    return Invitation(invitation_token=token, expires_at=user.invite_expires_at)


async def accept_invitation(uow: UnitOfWork, settings: Settings, data: InvitationAccept) -> UserOut:
    """Set the password an invitation was for; any earlier session of the user ends."""
    invalid = BadRequest("This invitation is not valid or has expired", code="invalid_invitation")
    user_id = await uow.locate("auth_find_invite", token_hash(data.token, settings.pepper))
    user = await uow.session.get(User, user_id) if user_id else None
    if (user is None or user.state == UserState.deactivated
            or (user.invite_expires_at or utcnow()) <= utcnow()):
        raise invalid
    check_password(data.password, email=user.email)
    record(uow, Actor(ActorType.user, user.id, user.email), "auth.invitation_accepted", _target(user),
           tenant_id=user.tenant_id)
    user.password_hash = hash_password(data.password)
    user.state = UserState.active
    user.invite_token_hash = None
    user.invite_expires_at = None
    user.session_generation += 1
    await sessions.end_all(uow, user.id)
    await uow.session.flush()
    return UserOut.model_validate(user)


async def change_password(uow: UnitOfWork, settings: Settings, redis: Redis, p: Principal,
                          data: PasswordChange) -> Issued:
    """Set a new password; every session of the user ends, and a new one is opened for the caller.

    Wrong current passwords are throttled per user (eneo.users.throttle), before the check.
    """
    user = await get_user(uow, p, p.user_id)
    attempt = await throttle.start_password_check(redis, settings, user.id)
    if not verify_password(user.password_hash, data.current_password):
        record(uow, p, "auth.password_changed", _target(user), outcome=Outcome.failure,
               details={"code": "invalid_credentials"})
        await uow.commit()
        raise Unauthorized("The current password is wrong", code="invalid_credentials")
    await attempt.succeeded()
    if data.new_password == data.current_password:
        raise BadRequest("The new password must differ from the current one", code="password_unchanged")
    check_password(data.new_password, email=user.email, field="new_password")
    user.password_hash = hash_password(data.new_password)
    record(uow, p, "auth.password_changed", _target(user))
    user.session_generation += 1
    await sessions.end_all(uow, user.id)
    return await sessions.open_session(uow, settings, user)


async def get_user(uow: UnitOfWork, p: Principal, user_id: uuid.UUID) -> User:
    """User administrators see every user of their tenant; others only themselves."""
    if user_id != p.user_id and not allows(p, Permission.administer_users):
        raise NotFound("User")
    user = await uow.session.scalar(select(User).where(User.id == user_id, User.tenant_id == p.tenant_id))
    if user is None:
        raise NotFound("User")
    return user


async def list_users(uow: UnitOfWork, p: Principal, *, limit: int, cursor: str | None
                     ) -> tuple[list[User], str | None]:
    return await paginate(uow.session, select(User).where(User.tenant_id == p.tenant_id), User,
                          limit=limit, cursor=cursor)


async def _ensure_other_admin(uow: UnitOfWork, p: Principal, user_id: uuid.UUID) -> None:
    others = await uow.session.scalar(select(func.count()).select_from(User).where(
        User.tenant_id == p.tenant_id, User.role == UserRole.admin, User.state == UserState.active,
        User.id != user_id))
    if not others:
        raise Conflict("The organisation needs at least one active admin", code="last_admin")


async def update_user(uow: UnitOfWork, p: Principal, user_id: uuid.UUID, data: UserUpdate) -> User:
    user = await get_user(uow, p, user_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "role_id" in changes:
        changes.pop("role", None)
        was = user.role
        await assign_role(uow, p.tenant_id, user, changes.pop("role_id"))
        changes["role"], user.role = user.role, was  # the last-admin check below sees the change
    elif "role" in changes:
        user.role_id = None
    losing_admin = (changes.get("role", user.role) != UserRole.admin
                    or changes.get("state", user.state) != UserState.active)
    if user.role == UserRole.admin and losing_admin:
        await _ensure_other_admin(uow, p, user.id)
    if changes.get("state") == UserState.active and user.state == UserState.invited:
        raise Conflict("An invited user becomes active by accepting the invitation", code="user_invited")
    for field, value in changes.items():
        setattr(user, field, value)
    await uow.session.flush()
    return user


async def delete_user(uow: UnitOfWork, p: Principal, user_id: uuid.UUID) -> None:
    """Deletes the user with their keys, memberships and personal space (foreign keys cascade)."""
    user = await get_user(uow, p, user_id)
    if user.id == p.user_id:
        raise Conflict("You cannot delete yourself; ask another admin", code="cannot_delete_self")
    if user.role == UserRole.admin:
        await _ensure_other_admin(uow, p, user.id)
    group_ids = (await uow.session.scalars(select(Group.id).join(Space, Space.id == Group.space_id).where(
        Space.owner_id == user.id, Space.personal, Space.tenant_id == p.tenant_id))).all()
    await uow.session.delete(user)
    await uow.commit()  # before the files go: only a deletion that holds removes them
    await delete_collection_files(p.tenant_id, group_ids)  # the personal space's documents' files
