"""Personal data before a tenant's external embedding and transcription providers (issue 15, part 5).

The answer path masks what goes to an external chat model (eneo.answers.protection). The same opt-in covers
the other providers that read a tenant's text:

* **Embeddings**: an external embedding model gets every text masked (chunks at ingestion, questions at
  search and at ask time) with the answer path's detector (eneo.personal_data.masking). The chunk stored in
  the database keeps its text, so full-text search still finds a personnummer; only the vector lacks it.
  The built-in models (no provider) and a provider an admin marked `local` are the organisation's own.
* **Audio** cannot be masked: with protection on it goes only to a transcription model at a local provider
  (eneo.model_providers.transcription_service.transcription_model_for).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from eneo.embeddings import Embedder, Purpose
from eneo.personal_data.masking import mask_texts
from eneo.tenants.models import Tenant

log = logging.getLogger("eneo.personal_data")


async def tenant_protects(session: AsyncSession, tenant_id: uuid.UUID) -> bool:
    """Whether the organisation opted in to protecting personal data (`protect_personal_data`)."""
    return bool(await session.scalar(select(Tenant.protect_personal_data).where(Tenant.id == tenant_id)))


@dataclass(frozen=True)
class MaskingEmbedder:
    """An external provider's embedder that never sends it personal data: each text is masked on its own
    (eneo.personal_data.masking.mask_texts), so a chunk gets the same vector in any batch."""

    inner: Embedder

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimensions(self) -> int:
        return self.inner.dimensions

    @property
    def max_batch(self) -> int:
        return self.inner.max_batch

    async def embed(self, texts: list[str], *, purpose: Purpose = "query") -> list[list[float]]:
        masked, counts = mask_texts(texts)
        if counts:  # the counts only: never a value
            log.info("personal data masked before embedding", extra={"model": self.inner.name, **counts})
        return await self.inner.embed(masked, purpose=purpose)
