"""Transcription models per tenant: the speech-to-text model (e.g. `whisper-1`) that turns audio documents
into text before they are chunked.

Decisions (and why):
* A concept of its own, not a completion model with a telling name: a completion model appears in
  assistants' model lists and could be chosen to answer chats, which a speech-to-text model cannot do.
* Only openai, azure and openai_compatible providers qualify: they speak `/audio/transcriptions`;
  anthropic has no such endpoint (422 up front rather than a failed document later).
* One default per tenant (partial unique index). Ingestion uses the default, else the oldest enabled
  model, so the choice is stable while an admin has not picked one.
* Deleting a model is always allowed: documents keep their text. A provider with transcription
  models cannot be deleted (409 `provider_in_use`, like completion models).
"""

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from eneo.auth.principal import Principal
from eneo.classifications.service import chosen_level
from eneo.core.db import UnitOfWork
from eneo.core.errors import Conflict
from eneo.core.ids import new_id
from eneo.model_providers.models import ModelProvider, TranscriptionModel
from eneo.model_providers.personal_data import tenant_protects
from eneo.model_providers.rules import (
    OPENAI_LIKE,
    check_default,
    find_provided_model,
    flush_or,
    make_default,
    page_of_models,
    settle_default,
    tenant_provider,
)
from eneo.model_providers.schemas import TranscriptionModelCreate, TranscriptionModelOut, TranscriptionModelUpdate
from eneo.permissions.model_access import chosen_groups

TRANSCRIPTION_PROVIDERS = OPENAI_LIKE
DEFAULT_LOCK = "eneo.default_transcription_model"


PERSONAL_DATA_CODE = "personal_data_protected"


class AudioNotSent(Conflict):
    """The organisation protects personal data and has no local transcription model: audio cannot be masked."""

    code = PERSONAL_DATA_CODE


async def transcription_model_for(session: AsyncSession, tenant_id: uuid.UUID, *, local_only: bool = False
                                  ) -> tuple[TranscriptionModel, ModelProvider] | None:
    """The model audio of this tenant is transcribed with: the enabled default, else the oldest enabled one
    (`local_only`: of those at a provider marked local)."""
    query = (select(TranscriptionModel, ModelProvider)
             .join(ModelProvider, ModelProvider.id == TranscriptionModel.provider_id)
             .where(TranscriptionModel.tenant_id == tenant_id, TranscriptionModel.enabled,
                    ModelProvider.type.in_(TRANSCRIPTION_PROVIDERS)))
    if local_only:
        query = query.where(ModelProvider.local)
    row = (await session.execute(
        query.order_by(TranscriptionModel.is_default.desc(), TranscriptionModel.created_at, TranscriptionModel.id)
        .limit(1))).first()
    return None if row is None else (row[0], row[1])


async def audio_model_for(session: AsyncSession, tenant_id: uuid.UUID
                          ) -> tuple[TranscriptionModel, ModelProvider] | None:
    """The model an audio document of this tenant goes to. An organisation that protects personal data
    sends audio, which cannot be masked, only to a model at a provider marked local (its default if that
    is one, else the oldest such): AudioNotSent when it has only external ones. None: no model at all."""
    found = await transcription_model_for(session, tenant_id)
    if found is None or found[1].local or not await tenant_protects(session, tenant_id):
        return found
    local = await transcription_model_for(session, tenant_id, local_only=True)
    if local is None:
        raise AudioNotSent(
            f"This organisation protects personal data, and audio cannot be masked before it leaves: its "
            f"transcription model {found[0].name!r} runs at an external provider. An administrator adds a "
            f"transcription model at a provider marked local (\"local\": true; POST /api/v1/transcription-models/), "
            f"or turns protect_personal_data off (PATCH /api/v1/settings/), then retries the document")
    return local


async def transcription_models_using(session: AsyncSession, tenant_id: uuid.UUID, provider_id: uuid.UUID) -> int:
    """How many transcription models a provider carries (a provider with any cannot be deleted)."""
    return await session.scalar(select(func.count()).select_from(TranscriptionModel).where(
        TranscriptionModel.provider_id == provider_id, TranscriptionModel.tenant_id == tenant_id)) or 0


# --- admin use cases (routes: eneo.model_providers.transcription_api) -------------------------------


def transcription_model_out(model: TranscriptionModel, provider: ModelProvider) -> TranscriptionModelOut:
    return TranscriptionModelOut(
        id=model.id, provider_id=provider.id, provider_name=provider.name, provider_type=provider.type,
        name=model.name, enabled=model.enabled, is_default=model.is_default,
        security_classification_id=model.security_classification_id,
        allowed_group_ids=model.allowed_group_ids or [], created_at=model.created_at,
        updated_at=model.updated_at)


async def _with_provider(uow: UnitOfWork, p: Principal, model_id: uuid.UUID
                         ) -> tuple[TranscriptionModel, ModelProvider]:
    return await find_provided_model(uow, p, TranscriptionModel, model_id, "Transcription model")


async def list_transcription_models(uow: UnitOfWork, p: Principal, *, include_disabled: bool, limit: int,
                                    cursor: str | None) -> tuple[list[TranscriptionModelOut], str | None]:
    rows, providers, next_cursor = await page_of_models(uow, p, TranscriptionModel, include_disabled=include_disabled,
                                                        limit=limit, cursor=cursor)
    return [transcription_model_out(m, providers[m.provider_id]) for m in rows], next_cursor


async def get_transcription_model(uow: UnitOfWork, p: Principal, model_id: uuid.UUID) -> TranscriptionModelOut:
    return transcription_model_out(*await _with_provider(uow, p, model_id))


async def create_transcription_model(uow: UnitOfWork, p: Principal, data: TranscriptionModelCreate
                                     ) -> TranscriptionModelOut:
    provider = await tenant_provider(uow.session, p.tenant_id, data.provider_id, types=TRANSCRIPTION_PROVIDERS,
                                     endpoint="transcription")
    check_default(enabled=data.enabled, is_default=data.is_default)
    model = TranscriptionModel(id=new_id(), tenant_id=p.tenant_id, provider_id=provider.id, name=data.name,
                               enabled=data.enabled, is_default=False)
    uow.session.add(model)
    await flush_or(uow, Conflict("This provider has a transcription model with this name already",
                                 code="transcription_model_name_taken"))
    if data.is_default:
        await make_default(uow.session, model, DEFAULT_LOCK)
    await uow.session.flush()
    return transcription_model_out(model, provider)


async def update_transcription_model(uow: UnitOfWork, p: Principal, model_id: uuid.UUID,
                                     data: TranscriptionModelUpdate) -> TranscriptionModelOut:
    model, provider = await _with_provider(uow, p, model_id)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("enabled") is not None:
        model.enabled = changes["enabled"]
    if "security_classification_id" in changes:
        level = await chosen_level(uow.session, p.tenant_id, data.security_classification_id)
        model.security_classification_id = level.id if level else None
    if "allowed_group_ids" in changes:
        model.allowed_group_ids = await chosen_groups(uow, p.tenant_id, data.allowed_group_ids)
    if settle_default(model, changes.get("is_default")):  # without a default, the oldest enabled model steps in
        await make_default(uow.session, model, DEFAULT_LOCK)
    await uow.session.flush()
    return transcription_model_out(model, provider)


async def delete_transcription_model(uow: UnitOfWork, p: Principal, model_id: uuid.UUID) -> None:
    """Always allowed: documents transcribed with it keep their text."""
    model, _ = await _with_provider(uow, p, model_id)
    await uow.session.delete(model)
    await uow.session.flush()
