import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from eneo.core.db import Base
from eneo.core.ids import utcnow

TENANT_TOTAL = uuid.UUID(int=0)  # token_usage_monthly's row for the whole tenant
ERASED_USERS = uuid.UUID(int=1)  # token_usage_daily's user for the tokens of users erased since (privacy)


class TokenUsageDaily(Base):
    """Tokens the providers reported, per tenant, UTC day, user, assistant and model (infra/migrations 0019)."""

    __tablename__ = "token_usage_daily"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    assistant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    model_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    questions: Mapped[int] = mapped_column(default=0, server_default="0")


class TokenUsageMonthly(Base):
    """The month's tokens per user, and the tenant's (user_id TENANT_TOTAL): what a quota check reads."""

    __tablename__ = "token_usage_monthly"

    tenant_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    month: Mapped[date] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    questions: Mapped[int] = mapped_column(default=0, server_default="0")


class TenantQuota(Base):
    """A tenant's limits; None is no limit."""

    __tablename__ = "tenant_quotas"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    tokens_per_month: Mapped[int | None] = mapped_column(BigInteger)
    tokens_per_user_per_month: Mapped[int | None] = mapped_column(BigInteger)
    storage_bytes: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
