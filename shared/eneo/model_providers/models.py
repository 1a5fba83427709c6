import enum
import uuid
from typing import Any

from sqlalchemy import (
    ARRAY,
    Boolean,
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from eneo.core.db import Base, Entity


class ProviderType(enum.StrEnum):
    openai = "openai"
    azure = "azure"
    anthropic = "anthropic"
    openai_compatible = "openai_compatible"  # vLLM, Ollama, llama.cpp, ...


class ModelProvider(Entity, Base):
    """Where a tenant's models run, and the credentials to reach them (encrypted, eneo.core.crypto).

    `managed` marks the provider a deployment registers itself (the local stack's own model server):
    admins cannot edit or delete it, because the next start would put it back; they disable its
    models instead.
    """

    __tablename__ = "model_providers"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        Index("uq_model_providers_managed", "tenant_id", unique=True, postgresql_where=text("managed")),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[ProviderType] = mapped_column(
        Enum(ProviderType, name="provider_type", values_callable=lambda e: [m.value for m in e])
    )
    # Non-secret settings only: base_url, endpoint, api_version.
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    credentials_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Shown to admins so they can tell keys apart; kept only for keys long enough that 4 characters
    # give nothing useful away.
    api_key_last4: Mapped[str | None] = mapped_column(String(4))
    managed: Mapped[bool] = mapped_column(default=False)
    # Runs on the deployment's own infrastructure (the managed model server, an organisation's own vLLM or
    # Ollama): what it is sent stays in-house, so personal data is not masked for it (eneo.answers.protection).
    local: Mapped[bool] = mapped_column(default=False)


class CompletionModel(Entity, Base):
    """A chat model a tenant offers, at one of its providers."""

    __tablename__ = "completion_models"
    __table_args__ = (
        UniqueConstraint("provider_id", "name"),
        # At most one default per tenant; a default is always enabled.
        Index("uq_completion_models_default", "tenant_id", unique=True, postgresql_where=text("is_default")),
        CheckConstraint("context_window > 0", name="context_window_positive"),
        CheckConstraint("max_output_tokens IS NULL OR max_output_tokens > 0", name="max_output_tokens_positive"),
        CheckConstraint("enabled OR NOT is_default", name="default_is_enabled"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # No cascade: a provider with models cannot be deleted (the service says why).
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("model_providers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))  # the provider's model id; Azure: the deployment name
    display_name: Mapped[str] = mapped_column(String(200))
    context_window: Mapped[int]
    max_output_tokens: Mapped[int | None]
    enabled: Mapped[bool] = mapped_column(default=True)
    is_default: Mapped[bool] = mapped_column(default=False)
    # The model's security classification (eneo.classifications); None: unclassified, the lowest.
    security_classification_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("security_classifications.id", name="fk_completion_models_security_classification"), index=True)
    # Only members of these user groups may use the model (eneo.permissions.model_access); None: everyone.
    allowed_group_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(Uuid()))


LOCAL_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
LOCAL_EMBEDDING_DIMENSIONS = 384
LOCAL_EMBEDDING_MAX_TOKENS = 256
# The built-in multilingual model (eneo.embeddings.e5): offered to every tenant next to MiniLM, never the
# first default (a collection of Swedish documents picks it).
MULTILINGUAL_EMBEDDING_MODEL = "multilingual-e5-small"
BUILTIN_EMBEDDING_MODELS = {LOCAL_EMBEDDING_MODEL: (LOCAL_EMBEDDING_DIMENSIONS, LOCAL_EMBEDDING_MAX_TOKENS),
                            MULTILINGUAL_EMBEDDING_MODEL: (384, 512)}
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
    # The model's security classification (eneo.classifications); None: unclassified, the lowest.
    security_classification_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("security_classifications.id", name="fk_embedding_models_security_classification"), index=True)
    # Only members of these user groups may use the model (eneo.permissions.model_access); None: everyone.
    allowed_group_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(Uuid()))

    @property
    def is_local(self) -> bool:
        return self.provider_id is None


class TranscriptionModel(Entity, Base):
    """A speech-to-text model a tenant offers for audio documents, at one of its providers."""

    __tablename__ = "transcription_models"
    __table_args__ = (
        UniqueConstraint("tenant_id", "provider_id", "name"),
        Index("uq_transcription_models_default", "tenant_id", unique=True, postgresql_where=text("is_default")),
        CheckConstraint("enabled OR NOT is_default", name="default_is_enabled"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # RESTRICT: a provider with transcription models cannot be deleted (the service says why).
    provider_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("model_providers.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))  # the provider's model id; Azure: the deployment name
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    # The model's security classification (eneo.classifications); None: unclassified, the lowest.
    security_classification_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("security_classifications.id", name="fk_transcription_models_security_classification"), index=True)
    # Only members of these user groups may use the model (eneo.permissions.model_access); None: everyone.
    allowed_group_ids: Mapped[list[uuid.UUID] | None] = mapped_column(ARRAY(Uuid()))
