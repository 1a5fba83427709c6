import enum

from sqlalchemy import CheckConstraint, Enum, String
from sqlalchemy.orm import Mapped, mapped_column

from eneo.core.db import Base, Entity


class TenantState(enum.StrEnum):
    active = "active"
    suspended = "suspended"


class Tenant(Entity, Base):
    """An organisation. Only the sysadmin sees more than its own row."""

    __tablename__ = "tenants"
    __table_args__ = (CheckConstraint("audit_retention_days BETWEEN 30 AND 3650", name="audit_retention_days_range"),)

    name: Mapped[str] = mapped_column(String(200), unique=True)
    state: Mapped[TenantState] = mapped_column(
        Enum(TenantState, name="tenant_state", values_callable=lambda e: [m.value for m in e]),
        default=TenantState.active,
    )
    # How long the audit log keeps an entry (eneo.audit); only the sysadmin changes it.
    audit_retention_days: Mapped[int] = mapped_column(default=365, server_default="365")
    # Mask personal data before questions go to an external model provider (eneo.answers.protection).
    protect_personal_data: Mapped[bool] = mapped_column(default=False)
