import uuid
from typing import Any

from sqlalchemy import Enum, ForeignKey, Index, LargeBinary, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from eneo.core.db import Base, Entity
from eneo.users.models import UserRole


class SsoProvider(Entity, Base):
    """A tenant's OpenID Connect provider (at most one per tenant); the client secret is encrypted
    (eneo.core.crypto, bound to the tenant and row), never returned."""

    __tablename__ = "sso_providers"
    __table_args__ = (Index("uq_sso_providers_tenant_id", "tenant_id", unique=True),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))  # shown on the sign-in button
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(300))
    client_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    scopes: Mapped[str] = mapped_column(String(300), default="openid email profile")
    # A claim of the ID token (a string or a list of strings) and which of its values give which role;
    # the first mapping that matches wins, in the order given; no match: `default_role`.
    role_claim: Mapped[str] = mapped_column(String(100), default="groups")
    role_mappings: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    # Which of the same claim's values make the user a member of which user group ({"value", "group_id"}):
    # membership in a mapped group follows the claim at every sign-in; other groups are managed in Eneo.
    group_mappings: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    default_role: Mapped[UserRole] = mapped_column(
        Enum(UserRole, name="user_role", values_callable=lambda e: [m.value for m in e]), default=UserRole.user)
    enabled: Mapped[bool] = mapped_column(default=True)
    password_login: Mapped[bool] = mapped_column(default=True)  # False: password sign-in is refused
