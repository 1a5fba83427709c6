import enum

from sqlalchemy import Enum, String
from sqlalchemy.orm import Mapped, mapped_column

from eneo.core.db import Base, Entity


class TenantState(enum.StrEnum):
    active = "active"
    suspended = "suspended"


class Tenant(Entity, Base):
    """An organisation. Only the sysadmin sees more than its own row."""

    __tablename__ = "tenants"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    state: Mapped[TenantState] = mapped_column(
        Enum(TenantState, name="tenant_state", values_callable=lambda e: [m.value for m in e]),
        default=TenantState.active,
    )
