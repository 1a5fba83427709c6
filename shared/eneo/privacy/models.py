import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, text
from sqlalchemy.orm import Mapped, mapped_column

from eneo.core.db import Base, Entity

MAX_DAYS = 36_500  # a hundred years: "keep" without a policy is the absence of a row, not a large number


class RetentionPolicy(Entity, Base):
    """How many days a conversation is kept: for a whole tenant (no space, no assistant), a space or an
    assistant. At most one per target; the most specific one set wins (eneo.privacy.service.effective)."""

    __tablename__ = "retention_policies"
    __table_args__ = (
        CheckConstraint(f"days BETWEEN 1 AND {MAX_DAYS}", name="days_in_range"),
        CheckConstraint("space_id IS NULL OR assistant_id IS NULL", name="one_target"),
        Index("uq_retention_policies_tenant", "tenant_id", unique=True,
              postgresql_where=text("space_id IS NULL AND assistant_id IS NULL")),
        Index("uq_retention_policies_space_id", "space_id", unique=True,
              postgresql_where=text("space_id IS NOT NULL")),
        Index("uq_retention_policies_assistant_id", "assistant_id", unique=True,
              postgresql_where=text("assistant_id IS NOT NULL")),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    space_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"))
    assistant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("assistants.id", ondelete="CASCADE"))
    days: Mapped[int] = mapped_column(Integer)
