"""Tenant admins' SSO provider configuration, and a sign-in through it (just-in-time users, role mapping).

A sign-in has two requests. `start` keeps what the callback must check (tenant, nonce, PKCE verifier, redirect
URI) in Redis under the state's hash for ten minutes and answers the provider's authorization URL; the browser
also gets the state in an httpOnly cookie, so a state sent from another browser is refused. `finish` takes the
state once (a replay finds nothing), redeems the code with the verifier and signs the user in: the account with
the provider's subject, else the tenant's account with the ID token's verified e-mail address (linked from then
on), else a new one. The role follows the mapping at every sign-in when the provider has mappings.
"""

import hashlib
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from eneo.audit.models import ActorType, Outcome
from eneo.audit.service import Actor, Target, record
from eneo.auth import sessions
from eneo.auth.principal import Principal, check_account
from eneo.auth.sessions import Issued
from eneo.core.crypto import DecryptionError, aad_for, decrypt_secret, encrypt_secret
from eneo.core.db import UnitOfWork
from eneo.core.errors import AppError, BadRequest, Conflict, Forbidden, NotFound
from eneo.core.ids import utcnow
from eneo.core.settings import Settings
from eneo.spaces.service import create_personal_space
from eneo.sso import groups, oidc
from eneo.sso.models import SsoProvider
from eneo.sso.schemas import SignInOptions, SignInProvider, SsoProviderCreate, SsoProviderUpdate, SsoStarted
from eneo.users.models import User, UserRole, UserState

STATE_TTL_SECONDS = 600


def _aad(provider: SsoProvider) -> bytes:
    return aad_for(provider.tenant_id, provider.id, "sso")


def _state_key(state: str) -> str:
    return "sso:state:" + hashlib.sha256(state.encode()).hexdigest()


async def _own(uow: UnitOfWork, p: Principal, provider_id: uuid.UUID) -> SsoProvider:
    provider = await uow.session.get(SsoProvider, provider_id)
    if provider is None or provider.tenant_id != p.tenant_id:
        raise NotFound("SSO provider")
    return provider


async def list_providers(uow: UnitOfWork, p: Principal) -> list[SsoProvider]:
    return list((await uow.session.scalars(select(SsoProvider).where(SsoProvider.tenant_id == p.tenant_id))).all())


async def get_provider(uow: UnitOfWork, p: Principal, provider_id: uuid.UUID) -> SsoProvider:
    return await _own(uow, p, provider_id)


async def create_provider(uow: UnitOfWork, p: Principal, data: SsoProviderCreate) -> SsoProvider:
    values = data.model_dump(exclude={"client_secret", "role_mappings", "group_mappings"})
    provider = SsoProvider(tenant_id=p.tenant_id, **values | {"issuer": str(data.issuer).rstrip("/")},
                           role_mappings=[m.model_dump(mode="json") for m in data.role_mappings],
                           group_mappings=await groups.checked(uow, p.tenant_id, data.group_mappings))
    uow.session.add(provider)
    try:
        await uow.session.flush()
    except IntegrityError:
        await uow.rollback()
        raise Conflict("This organisation already has an SSO provider; change it instead",
                       code="sso_provider_exists") from None
    if data.client_secret:
        provider.client_secret_encrypted = encrypt_secret(data.client_secret, _aad(provider))
    await uow.session.flush()
    return provider


async def update_provider(uow: UnitOfWork, p: Principal, provider_id: uuid.UUID,
                          data: SsoProviderUpdate) -> SsoProvider:
    provider = await _own(uow, p, provider_id)
    for field, value in data.model_dump(exclude_unset=True,
                                        exclude={"client_secret", "role_mappings", "group_mappings"}).items():
        if value is None:
            raise BadRequest(f"{field} cannot be null", code="validation_error")
        setattr(provider, field, str(value).rstrip("/") if field == "issuer" else value)
    if data.role_mappings is not None:
        provider.role_mappings = [m.model_dump(mode="json") for m in data.role_mappings]
    if data.group_mappings is not None:
        provider.group_mappings = await groups.checked(uow, p.tenant_id, data.group_mappings)
    if data.client_secret is not None:
        provider.client_secret_encrypted = (encrypt_secret(data.client_secret, _aad(provider))
                                            if data.client_secret else None)
    await uow.session.flush()
    return provider


async def delete_provider(uow: UnitOfWork, p: Principal, provider_id: uuid.UUID) -> SsoProvider:
    provider = await _own(uow, p, provider_id)
    await uow.session.delete(provider)
    await uow.session.flush()
    return provider


async def sign_in_options(uow: UnitOfWork, tenant: str | None) -> SignInOptions:
    """What the sign-in page shows for the organisation named (by id or name): nothing special when unknown."""
    provider_id = await uow.locate("auth_find_sso_provider", tenant.strip()) if tenant and tenant.strip() else None
    provider = await uow.session.get(SsoProvider, provider_id) if provider_id else None
    if provider is None:
        return SignInOptions(password_login=True, providers=[])
    return SignInOptions(password_login=provider.password_login,
                         providers=[SignInProvider(id=provider.id, name=provider.name)])


async def _tenant_provider(uow: UnitOfWork, tenant: str) -> SsoProvider:
    provider_id = await uow.locate("auth_find_sso_provider", tenant.strip())
    provider = await uow.session.get(SsoProvider, provider_id) if provider_id else None
    if provider is None:
        raise NotFound("SSO provider", code="sso_not_configured")
    return provider


async def start(uow: UnitOfWork, redis: Redis, *, tenant: str, redirect_uri: str) -> SsoStarted:
    """Begin a sign-in at the tenant's provider: the authorization URL, and the state to keep in a cookie."""
    provider = await _tenant_provider(uow, tenant)
    tenant_id, provider_id = provider.tenant_id, provider.id
    issuer, client_id, scopes = provider.issuer, provider.client_id, provider.scopes
    await uow.commit()  # no connection held while the provider answers
    found = await oidc.discover(issuer)
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier, challenge = oidc.new_verifier()
    pending = {"tenant_id": str(tenant_id), "provider_id": str(provider_id), "nonce": nonce,
               "verifier": verifier, "redirect_uri": redirect_uri}
    await redis.set(_state_key(state), json.dumps(pending), ex=STATE_TTL_SECONDS)
    url = oidc.authorization_url(found, client_id=client_id, scopes=scopes,
                                 redirect_uri=redirect_uri, state=state, nonce=nonce, challenge=challenge)
    return SsoStarted(authorization_url=url, state=state)


def _role(provider: SsoProvider, claims: dict[str, Any]) -> UserRole | None:
    """The role the mapping gives; None when the provider maps nothing (roles are then managed in Eneo)."""
    if not provider.role_mappings:
        return None
    values = groups.claim_values(provider, claims)
    for mapping in provider.role_mappings:
        if mapping["value"] in values:
            return UserRole(mapping["role"])
    return provider.default_role


@dataclass(frozen=True)
class SignedIn:
    issued: Issued
    user: User


async def finish(uow: UnitOfWork, settings: Settings, redis: Redis, *, state: str, code: str) -> SignedIn:
    """Redeem the provider's code for the sign-in `state` started; the signed-in user and their session."""
    raw = await redis.getdel(_state_key(state))
    if raw is None:
        raise BadRequest("This sign-in is unknown, was already used or took over ten minutes; start again",
                         code="sso_state_invalid")
    pending = json.loads(raw)
    tenant_id, provider_id = uuid.UUID(pending["tenant_id"]), uuid.UUID(pending["provider_id"])
    uow.act_as(tenant_id)
    provider = await uow.session.get(SsoProvider, provider_id)
    if provider is None or not provider.enabled:
        raise NotFound("SSO provider", code="sso_not_configured")
    try:
        secret = decrypt_secret(provider.client_secret_encrypted, _aad(provider)) \
            if provider.client_secret_encrypted else None
    except DecryptionError:
        raise oidc.ProviderFailed("The provider's client secret cannot be read with this ENCRYPTION_KEY; "
                                  "enter it again", code="sso_secret_unreadable") from None
    label = Target("sso_provider", provider_id, provider.name)
    issuer, client_id = provider.issuer, provider.client_id
    await uow.commit()  # no connection held while the provider answers
    try:
        found = await oidc.discover(issuer)
        claims = await oidc.redeem(found, client_id=client_id, client_secret=secret, code=code,
                                   redirect_uri=pending["redirect_uri"], verifier=pending["verifier"],
                                   nonce=pending["nonce"])
        provider = await uow.session.get(SsoProvider, provider_id)
        if provider is None or not provider.enabled:
            raise NotFound("SSO provider", code="sso_not_configured")
        user = await _account(uow, provider, claims)
        await check_account(uow, user.id)
        await groups.follow_claim(uow, provider, user, claims)
    except AppError as refused:
        await uow.rollback()
        uow.act_as(tenant_id)
        record(uow, Actor(ActorType.anonymous, label="sso"), "auth.sso_login", label, outcome=Outcome.failure,
               tenant_id=tenant_id, details={"code": refused.code})
        await uow.commit()
        raise
    user.last_login_at = utcnow()
    issued = await sessions.open_session(uow, settings, user)
    record(uow, Actor(ActorType.user, user.id, user.email), "auth.sso_login", Target("user", user.id, user.email),
           tenant_id=user.tenant_id, details={"provider_id": str(provider_id), "role": user.role.value})
    await uow.commit()
    return SignedIn(issued, user)


async def _account(uow: UnitOfWork, provider: SsoProvider, claims: dict[str, Any]) -> User:
    """The user the ID token names: by subject, else by verified e-mail, else created just in time."""
    subject = str(claims["sub"])[:255]
    role = _role(provider, claims)
    user = await uow.session.scalar(select(User).where(User.tenant_id == provider.tenant_id,
                                                       User.sso_subject == subject))
    email = str(claims.get("email") or "").strip().lower()
    if user is None and email and claims.get("email_verified") is not False:
        user = await uow.session.scalar(select(User).where(User.tenant_id == provider.tenant_id, User.email == email))
        if user is not None:
            if user.sso_subject is not None:  # the address belongs to another of the provider's subjects
                raise Forbidden("This e-mail address is linked to another single sign-on account",
                                code="sso_account_conflict")
            user.sso_subject = subject
            if user.state == UserState.invited:
                user.state = UserState.active
    if user is None:
        if not email:
            raise oidc.TokenRefused("The ID token carries no e-mail address (ask for the email scope)",
                                    code="sso_email_missing")
        name = str(claims.get("name") or claims.get("preferred_username") or email)[:200]
        user = User(tenant_id=provider.tenant_id, email=email, name=name, role=role or provider.default_role,
                    state=UserState.active, sso_subject=subject)
        uow.session.add(user)
        await uow.session.flush()
        await create_personal_space(uow, user)
        record(uow, Actor(ActorType.user, user.id, user.email), "user.created", Target("user", user.id, user.email),
               tenant_id=user.tenant_id, details={"role": user.role.value, "via": "sso"})
    elif role is not None and user.role != role:
        record(uow, Actor(ActorType.user, user.id, user.email), "user.updated",
               Target("user", user.id, user.email), tenant_id=user.tenant_id,
               details={"changed": ["role"], "role": role.value, "via": "sso"})
        user.role = role
    await uow.session.flush()
    return user
