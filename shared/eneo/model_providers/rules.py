"""Rules every kind of model (completion, embedding, transcription) follows, written once.

* A model belongs to one of the tenant's providers, of a type that can serve it (422 otherwise).
* Users see the enabled models; disabled ones exist for admins only; other tenants' ids are 404.
* At most one default per tenant (a partial unique index), always enabled (a check constraint):
  moving the default takes a per-tenant lock, so two admins doing it at once cannot both fail.
"""

import uuid
from typing import Protocol, TypeVar

from sqlalchemy import func, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from eneo.auth.principal import Principal
from eneo.core.db import UnitOfWork
from eneo.core.errors import AppError, NotFound, ValidationFailed
from eneo.core.pagination import paginate
from eneo.model_providers.models import ModelProvider, ProviderType
from eneo.permissions.policy import Permission, allows, require

OPENAI_LIKE = (ProviderType.openai, ProviderType.azure, ProviderType.openai_compatible)


class TenantModel(Protocol):
    """What the rules read of a model; CompletionModel, EmbeddingModel and TranscriptionModel have it. In
    queries its columns are reached by name through `inspect(cls).columns` (a protocol has no mapped columns)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    enabled: bool
    is_default: bool

    @property
    def provider_id(self) -> uuid.UUID | None: ...  # None: the built-in local embedding model


M = TypeVar("M", bound=TenantModel)


def invalid(fields: dict[str, str]) -> ValidationFailed:
    """422 naming each field and what is wrong with it."""
    details = [{"field": f, "message": m, "type": "value_error"} for f, m in fields.items()]
    return ValidationFailed("Invalid request: " + "; ".join(f"{f}: {m}" for f, m in fields.items()),
                            details=details)


async def flush_or(uow: UnitOfWork, conflict: AppError) -> None:
    """Flush, turning a unique or foreign-key violation into `conflict`."""
    try:
        await uow.session.flush()
    except IntegrityError:
        await uow.rollback()
        raise conflict from None


async def tenant_provider(session: AsyncSession, tenant_id: uuid.UUID, provider_id: uuid.UUID, *,
                          types: tuple[ProviderType, ...] | None = None, endpoint: str = "") -> ModelProvider:
    """The tenant's provider for a new model; 422 when there is none or (`types`) it has no `endpoint`."""
    provider = await session.scalar(select(ModelProvider).where(
        ModelProvider.id == provider_id, ModelProvider.tenant_id == tenant_id))
    if provider is None:
        raise invalid({"provider_id": "no such model provider"})
    if types is not None and provider.type not in types:
        names = [t.value for t in types]
        raise invalid({"provider_id": f"{provider.type.value} providers have no {endpoint} endpoint; use an "
                                      f"{', '.join(names[:-1])} or {names[-1]} provider"})
    return provider


async def find_model(uow: UnitOfWork, p: Principal, cls: type[M], model_id: uuid.UUID, noun: str
                     ) -> tuple[M, ModelProvider | None]:
    """The tenant's model with its provider (None: the model has none); 404 for what `p` may not see."""
    c = inspect(cls).columns
    row = (await uow.session.execute(
        select(cls, ModelProvider).outerjoin(ModelProvider, ModelProvider.id == c.provider_id)
        .where(c.id == model_id, c.tenant_id == p.tenant_id))).first()
    if row is None or not (row[0].enabled or allows(p, Permission.administer_models)):
        raise NotFound(noun)
    return row[0], row[1]


async def find_provided_model(uow: UnitOfWork, p: Principal, cls: type[M], model_id: uuid.UUID, noun: str
                              ) -> tuple[M, ModelProvider]:
    """`find_model` for kinds whose provider is required (completion, transcription)."""
    model, provider = await find_model(uow, p, cls, model_id, noun)
    if provider is None:
        raise NotFound(noun)
    return model, provider


async def page_of_models(uow: UnitOfWork, p: Principal, cls: type[M], *, include_disabled: bool, limit: int,
                         cursor: str | None) -> tuple[list[M], dict[uuid.UUID, ModelProvider], str | None]:
    """A page of the tenant's models and their providers by id; disabled models only for model
    administrators who ask (403 `permission_required` for others)."""
    if include_disabled:
        require(p, Permission.administer_models)
    c = inspect(cls).columns
    query = select(cls).where(c.tenant_id == p.tenant_id)
    if not include_disabled:
        query = query.where(c.enabled)
    rows, next_cursor = await paginate(uow.session, query, cls, limit=limit, cursor=cursor)
    providers = {r.id: r for r in await uow.session.scalars(select(ModelProvider).where(
        ModelProvider.tenant_id == p.tenant_id, ModelProvider.id.in_({m.provider_id for m in rows if m.provider_id})))}
    return rows, providers, next_cursor


def check_default(*, enabled: bool, is_default: bool | None) -> None:
    if is_default and not enabled:
        raise invalid({"is_default": "a disabled model cannot be the default; enable it too"})


def settle_default(model: TenantModel, wants_default: bool | None) -> bool:
    """Apply an update's `is_default` (None: unchanged) after its `enabled`: a disabled model is nobody's
    default (the tenant is then left without one). True: the model must become the default (`make_default`)."""
    check_default(enabled=model.enabled, is_default=wants_default)
    if wants_default is False or not model.enabled:
        model.is_default = False
    return bool(wants_default) and not model.is_default


async def make_default(session: AsyncSession, model: TenantModel, lock: str) -> None:
    """Move the tenant's default here, in this transaction, one writer per tenant (and `lock`) at a time."""
    await session.flush()
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"{lock}:{model.tenant_id}", 0))))
    cls = type(model)
    c = inspect(cls).columns
    await session.execute(
        update(cls).where(c.tenant_id == model.tenant_id, c.is_default, c.id != model.id)
        .values(is_default=False).execution_options(synchronize_session=False))
    model.is_default = True
