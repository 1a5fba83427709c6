import enum
import uuid

from sqlalchemy import Enum, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from eneo.core.db import Base, Entity


class SpaceRole(enum.StrEnum):
    viewer = "viewer"
    editor = "editor"
    admin = "admin"

    @property
    def rank(self) -> int:
        return list(SpaceRole).index(self)


class Space(Entity, Base):
    __tablename__ = "spaces"
    __table_args__ = (
        Index("uq_spaces_personal_owner", "owner_id", unique=True, postgresql_where=text("personal")),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    personal: Mapped[bool] = mapped_column(default=False)
    # Set for personal spaces: the one user who has it.
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The space's security classification (eneo.classifications); None: unclassified, the lowest.
    security_classification_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("security_classifications.id", name="fk_spaces_security_classification"), index=True)


class SpaceMember(Base):
    __tablename__ = "space_members"

    space_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    role: Mapped[SpaceRole] = mapped_column(
        Enum(SpaceRole, name="space_role", values_callable=lambda e: [m.value for m in e])
    )
