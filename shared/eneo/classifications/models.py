import uuid

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from eneo.core.db import Base, Entity


class SecurityClassification(Entity, Base):
    """One level of a tenant's ordered scale: a higher `position` is a more protected level.

    Spaces and models point at a level (NULL: unclassified, below every level). The position's uniqueness
    is checked at commit, so a reorder can move every level in one transaction.
    """

    __tablename__ = "security_classifications"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        UniqueConstraint("tenant_id", "position", deferrable=True, initially="DEFERRED"),
        CheckConstraint("position >= 1", name="position_positive"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer)
