import enum
import uuid
from typing import Any

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, LargeBinary, String, UniqueConstraint, text
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
