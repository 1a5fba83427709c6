import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Enum, ForeignKey, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from eneo.core.db import Base, Entity
from eneo.core.ids import utcnow


class PersonalData(enum.StrEnum):
    """What an assistant does with personal data before a question goes to an external provider
    (eneo.answers.protection): `tenant` follows the organisation's `protect_personal_data`; `mask` masks it
    whatever the organisation chose; `local_model` sends a question that holds any to a local model instead
    (masked, at the external one, when the organisation has no local model enabled)."""

    tenant = "tenant"
    mask = "mask"
    local_model = "local_model"


class Assistant(Entity, Base):
    """A system prompt and a completion model, in a space; members use it by their space role."""

    __tablename__ = "assistants"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    space_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    system_prompt: Mapped[str] = mapped_column(Text, default="")
    # Which version of assistant_prompts system_prompt is.
    prompt_version: Mapped[int] = mapped_column(default=1)
    # No cascade: a model in use cannot be deleted (eneo.model_providers.service says so).
    completion_model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("completion_models.id"), index=True)
    model_kwargs: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    published: Mapped[bool] = mapped_column(default=False)
    personal_data: Mapped[PersonalData] = mapped_column(
        Enum(PersonalData, name="personal_data_policy", values_callable=lambda e: [m.value for m in e]),
        default=PersonalData.tenant)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class AssistantPrompt(Base):
    """One version of an assistant's system prompt; every change adds one, so any can be restored."""

    __tablename__ = "assistant_prompts"

    assistant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assistants.id", ondelete="CASCADE"),
                                                    primary_key=True)
    version: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AssistantGroup(Base):
    """A knowledge collection an assistant retrieves from."""

    __tablename__ = "assistant_groups"

    assistant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("assistants.id", ondelete="CASCADE"),
                                                    primary_key=True)
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True,
                                                index=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
