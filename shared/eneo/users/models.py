import enum
import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from eneo.core.db import Base, Entity


def _values(e: type[enum.Enum]) -> list[str]:
    return [m.value for m in e]


class UserRole(enum.StrEnum):
    admin = "admin"  # manages the tenant's users
    user = "user"


class UserState(enum.StrEnum):
    invited = "invited"  # has an invitation, no password yet
    active = "active"
    deactivated = "deactivated"


class User(Entity, Base):
    __tablename__ = "users"
    # Unique per tenant only: one address may belong to staff of two organisations, and creating a user
    # must not reveal that another organisation has it. Login picks the tenant (eneo.users.service.login).
    __table_args__ = (Index("uq_users_tenant_id_email", "tenant_id", "email", unique=True),
                      Index("ix_users_email", "email"))

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))  # lower-cased
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[UserRole] = mapped_column(Enum(UserRole, name="user_role", values_callable=_values))
    state: Mapped[UserState] = mapped_column(Enum(UserState, name="user_state", values_callable=_values))
    invite_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    invite_expires_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    # Carried in every access token; raising it (on a password change) ends all earlier sessions.
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")
