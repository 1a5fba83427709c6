"""Which model transcribes a tenant's audio documents.

The tenant's default enabled *transcription model* (`eneo.model_providers.transcription_service`), else
its oldest enabled one, so the choice is stable while no default is set. Transcription models are their
own concept: a speech-to-text model registered as a completion model would be offered to assistants.
Without one, an audio document fails with `no_transcription_model` and a message saying how to add one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from eneo.core.db import UnitOfWork
from eneo.llm import ProviderConfig
from eneo.model_providers.service import provider_config
from eneo.model_providers.transcription_service import transcription_model_for

NO_MODEL_MESSAGE = ("Audio needs a transcription model: an administrator adds one (e.g. whisper-1 at an OpenAI, "
                    "Azure or OpenAI-compatible provider) with POST /api/v1/transcription-models/, then retries")


@dataclass(frozen=True)
class TranscriptionTarget:
    """The provider to call and the model (Azure: deployment) name. Holds a decrypted key: never log it."""

    config: ProviderConfig = field(repr=False)
    model: str


async def transcription_target(uow: UnitOfWork, tenant_id: uuid.UUID) -> TranscriptionTarget | None:
    """None when the tenant has no enabled transcription model. Raises AppError (409) when the provider's
    key no longer decrypts."""
    found = await transcription_model_for(uow.session, tenant_id)
    if found is None:
        return None
    model, provider = found
    return TranscriptionTarget(provider_config(provider), model.name)
