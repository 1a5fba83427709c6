import enum
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Enum, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from eneo.core.db import Base, Entity


class KeyScope(enum.StrEnum):
    user = "user"  # acts as its owner everywhere
    assistant = "assistant"  # restricted to one assistant


class ApiKey(Entity, Base):
    """A long-lived credential. Only a keyed hash of the secret is stored."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("(scope = 'assistant') = (assistant_id IS NOT NULL)", name="scope_matches_assistant"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    last4: Mapped[str] = mapped_column(String(4))
    scope: Mapped[KeyScope] = mapped_column(
        Enum(KeyScope, name="api_key_scope", values_callable=lambda e: [m.value for m in e])
    )
    assistant_id: Mapped[uuid.UUID | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
