import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from eneo.core.db import Base
from eneo.core.ids import new_id


class Outcome(enum.StrEnum):
    success = "success"
    failure = "failure"


class ActorType(enum.StrEnum):
    user = "user"  # signed in with a token, or through one of their API keys (`api_key_id` says which)
    sysadmin = "sysadmin"  # the operator's super API key
    anonymous = "anonymous"  # someone not signed in yet (a failed sign-in names the account tried)
    system = "system"  # the platform itself (a scheduled job)


class AuditEntry(Base):
    """One security or administrative action. Append-only: the functions' database role may insert and read,
    never change or delete (infra/migrations 0018); no `updated_at`, since nothing updates it."""

    __tablename__ = "audit_entries"
    # A plain INSERT, no RETURNING of the clock: nothing reads it back, and the sysadmin (who appends to a
    # tenant's log) may not read that log.
    __mapper_args__ = {"eager_defaults": False}
    __table_args__ = (
        Index("ix_audit_entries_tenant_id_created_at_id", "tenant_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID]  # no foreign key: see infra/migrations 0018
    # The clock at the insert (not the transaction's start): entries of one request keep their order.
    created_at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None]
    actor_label: Mapped[str | None] = mapped_column(String(320))
    api_key_id: Mapped[uuid.UUID | None]
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[uuid.UUID | None]
    target_label: Mapped[str | None] = mapped_column(String(500))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
