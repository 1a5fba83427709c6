"""Which model transcribes a tenant's audio documents.

The rule (no setting, no table of its own): an *enabled completion model* of the tenant whose name
contains `whisper` or `transcribe` (e.g. `whisper-1`, `gpt-4o-transcribe`, `whisper-large-v3`), at
an `openai`, `azure` or `openai_compatible` provider: those speak `/audio/transcriptions`. Admins
add one like any model (`POST /api/v1/completion-models/`). Oldest first, so the choice is stable.
Without one, an audio document fails with `no_transcription_model` and a message saying this.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import or_, select

from eneo.core.db import UnitOfWork
from eneo.llm import ProviderConfig
from eneo.model_providers.models import CompletionModel, ModelProvider, ProviderType
from eneo.model_providers.service import provider_config

TRANSCRIBING_PROVIDERS = (ProviderType.openai, ProviderType.azure, ProviderType.openai_compatible)
NAME_PATTERNS = ("%whisper%", "%transcribe%")

NO_MODEL_MESSAGE = ("Audio needs a transcription model: an administrator adds one (e.g. whisper-1) as a "
                    "completion model of an OpenAI, Azure or OpenAI-compatible provider, then retries")


@dataclass(frozen=True)
class TranscriptionTarget:
    config: ProviderConfig
    model: str


async def transcription_target(uow: UnitOfWork, tenant_id: uuid.UUID) -> TranscriptionTarget | None:
    row = (await uow.session.execute(
        select(CompletionModel, ModelProvider).join(ModelProvider, ModelProvider.id == CompletionModel.provider_id)
        .where(CompletionModel.tenant_id == tenant_id, CompletionModel.enabled,
               ModelProvider.type.in_(TRANSCRIBING_PROVIDERS),
               or_(*(CompletionModel.name.ilike(p) for p in NAME_PATTERNS)))
        .order_by(CompletionModel.created_at, CompletionModel.id).limit(1))).first()
    if row is None:
        return None
    model, provider = row
    return TranscriptionTarget(provider_config(provider), model.name)
