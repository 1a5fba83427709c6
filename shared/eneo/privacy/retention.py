"""Use cases of retention periods: read, set and clear them on a tenant, a space or an assistant.

Who may set them: the tenant's admins for the tenant, a space's admins for the space, the editors of an
assistant's space for the assistant. Reading is open to whoever sees the target (a member reads how long
their conversations are kept). Outsiders get 404 as everywhere (eneo.spaces.policy).

The period that applies to a conversation is the most specific one set: the assistant's, else its space's,
else the tenant's; none set means kept until deleted.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.sql.elements import ColumnElement

from eneo.assistants.models import Assistant
from eneo.auth.principal import Principal
from eneo.core.db import UnitOfWork
from eneo.core.errors import Forbidden, NotFound
from eneo.core.ids import utcnow
from eneo.privacy.models import RetentionPolicy
from eneo.privacy.schemas import RetentionOut, RetentionScope
from eneo.spaces.policy import SpaceAction
from eneo.spaces.service import authorize

_TENANT_ROW = and_(RetentionPolicy.space_id.is_(None), RetentionPolicy.assistant_id.is_(None))


async def _days(uow: UnitOfWork, tenant_id: uuid.UUID, where: ColumnElement[bool]) -> int | None:
    return (await uow.session.scalars(select(RetentionPolicy.days).where(
        RetentionPolicy.tenant_id == tenant_id, where))).first()


async def _out(uow: UnitOfWork, tenant_id: uuid.UUID, scope: RetentionScope, target_id: uuid.UUID,
               space_id: uuid.UUID | None = None, assistant_id: uuid.UUID | None = None) -> RetentionOut:
    chain: list[tuple[RetentionScope, int | None]] = []
    if assistant_id is not None:
        own = await _days(uow, tenant_id, RetentionPolicy.assistant_id == assistant_id)
        chain.append((RetentionScope.assistant, own))
    if space_id is not None:
        chain.append((RetentionScope.space, await _days(uow, tenant_id, RetentionPolicy.space_id == space_id)))
    chain.append((RetentionScope.tenant, await _days(uow, tenant_id, _TENANT_ROW)))
    effective = next(((s, d) for s, d in chain if d is not None), (None, None))
    return RetentionOut(scope=scope, target_id=target_id, days=dict(chain)[scope], effective_days=effective[1],
                        effective_scope=effective[0])


async def _set(uow: UnitOfWork, tenant_id: uuid.UUID, days: int, *, space_id: uuid.UUID | None = None,
               assistant_id: uuid.UUID | None = None) -> None:
    """One row per target (a partial unique index each): a second PUT, even a concurrent one, updates it."""
    target: list[Any]
    where: ColumnElement[bool]
    if assistant_id is not None:
        target, where = [RetentionPolicy.assistant_id], RetentionPolicy.assistant_id.isnot(None)
    elif space_id is not None:
        target, where = [RetentionPolicy.space_id], RetentionPolicy.space_id.isnot(None)
    else:
        target, where = [RetentionPolicy.tenant_id], _TENANT_ROW
    now = utcnow()
    await uow.session.execute(
        insert(RetentionPolicy)
        .values(id=uuid.uuid4(), tenant_id=tenant_id, space_id=space_id, assistant_id=assistant_id, days=days,
                created_at=now, updated_at=now)
        .on_conflict_do_update(index_elements=target, index_where=where,
                               set_={"days": days, "updated_at": now}))


async def _clear(uow: UnitOfWork, tenant_id: uuid.UUID, where: ColumnElement[bool]) -> None:
    await uow.session.execute(delete(RetentionPolicy).where(RetentionPolicy.tenant_id == tenant_id, where))


# The tenant (the route requires a tenant admin to change it).

async def tenant_retention(uow: UnitOfWork, p: Principal) -> RetentionOut:
    return await _out(uow, p.tenant_id, RetentionScope.tenant, p.tenant_id)


async def set_tenant_retention(uow: UnitOfWork, p: Principal, days: int) -> RetentionOut:
    await _set(uow, p.tenant_id, days)
    return await tenant_retention(uow, p)


async def clear_tenant_retention(uow: UnitOfWork, p: Principal) -> None:
    await _clear(uow, p.tenant_id, _TENANT_ROW)


# A space: members read, its admins change.

async def space_retention(uow: UnitOfWork, p: Principal, space_id: uuid.UUID) -> RetentionOut:
    await authorize(uow, p, space_id, SpaceAction.read)
    return await _out(uow, p.tenant_id, RetentionScope.space, space_id, space_id=space_id)


async def set_space_retention(uow: UnitOfWork, p: Principal, space_id: uuid.UUID, days: int) -> RetentionOut:
    await authorize(uow, p, space_id, SpaceAction.update)
    await _set(uow, p.tenant_id, days, space_id=space_id)
    return await _out(uow, p.tenant_id, RetentionScope.space, space_id, space_id=space_id)


async def clear_space_retention(uow: UnitOfWork, p: Principal, space_id: uuid.UUID) -> None:
    await authorize(uow, p, space_id, SpaceAction.update)
    await _clear(uow, p.tenant_id, RetentionPolicy.space_id == space_id)


# An assistant: whoever sees it reads, its space's editors change.

async def _assistant(uow: UnitOfWork, p: Principal, assistant_id: uuid.UUID, action: SpaceAction) -> Assistant:
    """The assistant if the caller may `action` on it; one they cannot see (another tenant's, a space they are
    not in, an unpublished one below editor) is 404, as in eneo.assistants."""
    assistant = (await uow.session.scalars(select(Assistant).where(
        Assistant.id == assistant_id, Assistant.tenant_id == p.tenant_id))).first()
    if assistant is None:
        raise NotFound("Assistant")
    try:
        await authorize(uow, p, assistant.space_id, SpaceAction.edit_content)
    except NotFound:
        raise NotFound("Assistant") from None
    except Forbidden:
        if not assistant.published:
            raise NotFound("Assistant") from None
        if action != SpaceAction.read:
            raise
    return assistant


async def assistant_retention(uow: UnitOfWork, p: Principal, assistant_id: uuid.UUID) -> RetentionOut:
    a = await _assistant(uow, p, assistant_id, SpaceAction.read)
    return await _out(uow, p.tenant_id, RetentionScope.assistant, a.id, space_id=a.space_id, assistant_id=a.id)


async def set_assistant_retention(uow: UnitOfWork, p: Principal, assistant_id: uuid.UUID, days: int
                                  ) -> RetentionOut:
    a = await _assistant(uow, p, assistant_id, SpaceAction.edit_content)
    await _set(uow, p.tenant_id, days, assistant_id=a.id)
    return await _out(uow, p.tenant_id, RetentionScope.assistant, a.id, space_id=a.space_id, assistant_id=a.id)


async def clear_assistant_retention(uow: UnitOfWork, p: Principal, assistant_id: uuid.UUID) -> None:
    a = await _assistant(uow, p, assistant_id, SpaceAction.edit_content)
    await _clear(uow, p.tenant_id, RetentionPolicy.assistant_id == a.id)
