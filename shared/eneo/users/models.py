import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Enum, ForeignKey, Index, LargeBinary, String
from sqlalchemy.dialects.postgresql import JSONB
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
                      Index("ix_users_email", "email"),
                      Index("uq_users_tenant_id_sso_subject", "tenant_id", "sso_subject", unique=True))

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))  # lower-cased
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[UserRole] = mapped_column(Enum(UserRole, name="user_role", values_callable=_values))
    # A custom tenant role (eneo.permissions), which then decides instead of `role` (kept `user`).
    role_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("roles.id", name="fk_users_role"), index=True)
    state: Mapped[UserState] = mapped_column(Enum(UserState, name="user_state", values_callable=_values))
    invite_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    invite_expires_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    # Carried in every access token; raising it (on a password change) ends all earlier sessions.
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")
    # The second factor (eneo.users.second_factor): the TOTP secret encrypted like a provider's key
    # (eneo.core.crypto), set when enrolment starts and in force from `totp_enabled_at` (the first code
    # confirmed); the last time step accepted, so no code works twice; the unused recovery codes' keyed hashes.
    totp_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_enabled_at: Mapped[datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    totp_recovery_hashes: Mapped[list[Any]] = mapped_column(JSONB, default=list, server_default="[]")
    # The subject (`sub`) at the tenant's OpenID Connect provider of a user who signed in through it (eneo.sso).
    sso_subject: Mapped[str | None] = mapped_column(String(255))

    @property
    def totp_enabled(self) -> bool:
        return self.totp_enabled_at is not None
