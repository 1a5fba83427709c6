"""One home for turning a model row into what calls it: a chat model's, a transcription model's and an
embedding model's provider, with the key decrypted (eneo.model_providers.service.provider_config).

Every target holds a decrypted key: never log one (their reprs leave the config out). A model of another
tenant is not found; a key that no longer decrypts is an AppError (409) from provider_config.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from eneo.core.db import UnitOfWork
from eneo.core.errors import NotFound
from eneo.embeddings import Embedder, EmbeddingModelLike, embedder_for
from eneo.llm import ProviderConfig
from eneo.model_providers.models import CompletionModel, EmbeddingModel, ModelProvider, TranscriptionModel
from eneo.model_providers.personal_data import MaskingEmbedder
from eneo.model_providers.service import provider_config
from eneo.model_providers.transcription_service import transcription_model_for


@dataclass(frozen=True)
class ChatTarget:
    """Everything the `complete` function needs to call a model."""

    model_id: uuid.UUID
    config: ProviderConfig = field(repr=False)
    model: str
    context_window: int
    max_output_tokens: int | None
    enabled: bool
    local: bool = False  # its provider runs on the organisation's own infrastructure (eneo.answers.protection)


async def chat_target(uow: UnitOfWork, model_id: uuid.UUID) -> ChatTarget:
    """The completion model and its provider for the unit of work's tenant; NotFound for any other."""
    row = (await uow.session.execute(
        select(CompletionModel, ModelProvider).join(ModelProvider, ModelProvider.id == CompletionModel.provider_id)
        .where(CompletionModel.id == model_id, CompletionModel.tenant_id == uow.tenant_id)
    )).first()
    if row is None or uow.tenant_id is None:
        raise NotFound("Completion model")
    model, provider = row
    return ChatTarget(model_id=model.id, config=provider_config(provider), model=model.name,
                      context_window=model.context_window, max_output_tokens=model.max_output_tokens,
                      enabled=model.enabled, local=provider.local)


async def local_chat_target(uow: UnitOfWork) -> ChatTarget | None:
    """The tenant's local model to route personal data to: its default model if that is local, else the
    enabled local model with the largest context window; None when it has no enabled local model."""
    model_id = await uow.session.scalar(
        select(CompletionModel.id).join(ModelProvider, ModelProvider.id == CompletionModel.provider_id)
        .where(CompletionModel.tenant_id == uow.tenant_id, CompletionModel.enabled, ModelProvider.local)
        .order_by(CompletionModel.is_default.desc(), CompletionModel.context_window.desc(), CompletionModel.id)
        .limit(1))
    return None if model_id is None else await chat_target(uow, model_id)


@dataclass(frozen=True)
class TranscriptionTarget:
    """The provider to call and the model (Azure: deployment) name."""

    config: ProviderConfig = field(repr=False)
    model: str


async def transcription_target(uow: UnitOfWork, tenant_id: uuid.UUID) -> TranscriptionTarget | None:
    """The model a tenant's audio is transcribed with (the enabled default, else the oldest enabled one:
    eneo.model_providers.transcription_service.transcription_model_for); None when it has none."""
    found = await transcription_model_for(uow.session, tenant_id)
    return None if found is None else transcription_target_of(*found)


def transcription_target_of(model: TranscriptionModel, provider: ModelProvider) -> TranscriptionTarget:
    """The target of a transcription model row and its provider (their tenant checked by the caller)."""
    return TranscriptionTarget(provider_config(provider), model.name)


async def model_embedder(session: AsyncSession, tenant_id: uuid.UUID, model: EmbeddingModelLike, *,
                         mask: bool = False) -> Embedder:
    """The embedder of a model row already read: the local one, or its provider's API. `mask`: the texts
    are for a tenant or assistant that protects personal data, so an external provider (not the built-in
    model, not a provider marked local) gets them masked (eneo.model_providers.personal_data).

    Raises eneo.embeddings.EmbeddingError for a row that cannot work (no provider, a misnamed local row)."""
    if model.provider_id is None:
        return embedder_for(model, None)
    provider = await session.scalar(select(ModelProvider).where(ModelProvider.id == model.provider_id,
                                                                ModelProvider.tenant_id == tenant_id))
    embedder = embedder_for(model, provider_config(provider) if provider is not None else None)
    return MaskingEmbedder(embedder) if mask and provider is not None and not provider.local else embedder


async def load_embedder(session: AsyncSession, tenant_id: uuid.UUID, model_id: uuid.UUID, *, mask: bool = False
                        ) -> tuple[EmbeddingModel, Embedder]:
    """A model row of the tenant and its embedder (`mask`: see model_embedder); NotFound for a model of
    another tenant."""
    model = await session.scalar(select(EmbeddingModel).where(EmbeddingModel.id == model_id,
                                                              EmbeddingModel.tenant_id == tenant_id))
    if model is None:
        raise NotFound("Embedding model")
    return model, await model_embedder(session, tenant_id, model, mask=mask)
