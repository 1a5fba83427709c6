"""API keys: `eneo_<prefix>_<secret>`; the prefix finds the row, a keyed hash verifies the rest."""

import uuid

from sqlalchemy import select

from eneo.api_keys.models import ApiKey
from eneo.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from eneo.auth.principal import API_KEY_PREFIX, Principal
from eneo.core.db import UnitOfWork
from eneo.core.errors import BadRequest, NotFound
from eneo.core.ids import utcnow
from eneo.core.pagination import paginate
from eneo.core.security import random_token, token_hash
from eneo.core.settings import Settings


def new_key() -> tuple[str, str]:
    """A fresh key and its public prefix. The prefix alphabet has no '_' so the key splits cleanly."""
    prefix = f"{API_KEY_PREFIX}_{random_token(6).replace('_', 'x').replace('-', 'y')}"
    return f"{prefix}_{random_token(32)}", prefix


async def create_key(uow: UnitOfWork, settings: Settings, p: Principal, data: ApiKeyCreate) -> ApiKeyCreated:
    if data.expires_at is not None and data.expires_at <= utcnow():
        raise BadRequest("expires_at must be in the future", code="invalid_expiry")
    if data.assistant_id is not None:
        # The key reaches only this assistant, so its owner must be able to use it (another tenant's, an unknown
        # or an unpublished one the owner cannot see: 404). Imported here: the auth function loads the assistants
        # domain only for this.
        from eneo.assistants.service import usable_assistant

        await usable_assistant(uow, p, data.assistant_id)
    key, prefix = new_key()
    row = ApiKey(tenant_id=p.tenant_id, user_id=p.user_id, name=data.name, prefix=prefix,
                 key_hash=token_hash(key, settings.pepper), last4=key[-4:], scope=data.scope,
                 assistant_id=data.assistant_id, expires_at=data.expires_at)
    uow.session.add(row)
    await uow.session.flush()
    return ApiKeyCreated(**ApiKeyOut.model_validate(row).model_dump(), key=key)


async def list_keys(uow: UnitOfWork, p: Principal, *, limit: int, cursor: str | None
                    ) -> tuple[list[ApiKey], str | None]:
    query = select(ApiKey).where(ApiKey.tenant_id == p.tenant_id, ApiKey.user_id == p.user_id)
    return await paginate(uow.session, query, ApiKey, limit=limit, cursor=cursor)


async def revoke_key(uow: UnitOfWork, p: Principal, key_id: uuid.UUID) -> ApiKey:
    """Revoked keys stay listed (with revoked_at) so their owner can see what was used when."""
    row = await uow.session.scalar(select(ApiKey).where(
        ApiKey.id == key_id, ApiKey.tenant_id == p.tenant_id, ApiKey.user_id == p.user_id))
    if row is None:
        raise NotFound("API key")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await uow.session.flush()
    return row
