"""Embedding models per tenant: the built-in local all-MiniLM-L6-v2, or an embeddings endpoint of a provider.

Every model gets its own partial HNSW index (`ensure_embedding_index`, migration 0004), because models
have different dimensions and vectors of different models must never be compared.
"""

import uuid

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from eneo.core.db import Base, Entity
from eneo.core.ids import new_id

LOCAL_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
LOCAL_EMBEDDING_DIMENSIONS = 384
LOCAL_EMBEDDING_MAX_TOKENS = 256
MAX_DIMENSIONS = 4096


class EmbeddingModel(Entity, Base):
    """A model that turns text into vectors; `provider_id` NULL is the built-in local one (`managed`)."""

    __tablename__ = "embedding_models"
    __table_args__ = (
        UniqueConstraint("tenant_id", "provider_id", "name", postgresql_nulls_not_distinct=True),
        Index("uq_embedding_models_default", "tenant_id", unique=True, postgresql_where=text("is_default")),
        CheckConstraint(f"dimensions BETWEEN 1 AND {MAX_DIMENSIONS}", name="dimensions_in_range"),
        CheckConstraint("max_input_tokens > 0", name="max_input_tokens_positive"),
        CheckConstraint("enabled OR NOT is_default", name="default_is_enabled"),
        CheckConstraint("managed = (provider_id IS NULL)", name="managed_is_local"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # No cascade: a provider with embedding models cannot be deleted.
    provider_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("model_providers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))  # the provider's model id; Azure: the deployment name
    dimensions: Mapped[int] = mapped_column(Integer)
    max_input_tokens: Mapped[int] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    managed: Mapped[bool] = mapped_column(Boolean, default=False)

    @property
    def is_local(self) -> bool:
        return self.provider_id is None


async def ensure_embedding_index(session: AsyncSession, model: EmbeddingModel) -> None:
    """Create the model's partial HNSW index (a SECURITY DEFINER function: the app role owns no table)."""
    await session.execute(text("SELECT ensure_embedding_index(:id, :dims)"),
                          {"id": model.id, "dims": model.dimensions})


async def ensure_local_embedding_model(session: AsyncSession, tenant_id: uuid.UUID) -> EmbeddingModel:
    """The tenant's built-in local model, created (with its index, as the default when the tenant has
    none) on first use. Idempotent; safe when two requests race (the unique constraint decides)."""
    found = await session.scalar(select(EmbeddingModel).where(
        EmbeddingModel.tenant_id == tenant_id, EmbeddingModel.provider_id.is_(None),
        EmbeddingModel.name == LOCAL_EMBEDDING_MODEL))
    if found is not None:
        return found
    has_default = await session.scalar(select(EmbeddingModel.id).where(
        EmbeddingModel.tenant_id == tenant_id, EmbeddingModel.is_default).limit(1))
    model_id = new_id()
    # ON CONFLICT DO NOTHING: a concurrent first use inserted it already; read theirs.
    await session.execute(text("""
        INSERT INTO embedding_models (id, created_at, updated_at, tenant_id, provider_id, name, dimensions,
                                      max_input_tokens, enabled, is_default, managed)
        VALUES (:id, now(), now(), :tenant, NULL, :name, :dims, :tokens, true, :default, true)
        ON CONFLICT DO NOTHING
    """), {"id": model_id, "tenant": tenant_id, "name": LOCAL_EMBEDDING_MODEL, "dims": LOCAL_EMBEDDING_DIMENSIONS,
           "tokens": LOCAL_EMBEDDING_MAX_TOKENS, "default": has_default is None})
    model = await session.scalar(select(EmbeddingModel).where(
        EmbeddingModel.tenant_id == tenant_id, EmbeddingModel.provider_id.is_(None),
        EmbeddingModel.name == LOCAL_EMBEDDING_MODEL).execution_options(populate_existing=True))
    assert model is not None
    if model.id == model_id:
        await ensure_embedding_index(session, model)
    return model
