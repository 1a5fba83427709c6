"""Token usage and quotas: `token_usage_daily`, `token_usage_monthly`, `tenant_quotas`.

Revision ID: 0019
Revises: 0018

* `token_usage_daily`: the providers' reported input and output tokens and the questions answered, per
  tenant, UTC day, user, assistant and model (what `GET /api/v1/token-usage/` groups). Added to when an
  answer is saved, in the same statement; no foreign keys, so usage outlives a deleted user, assistant,
  model or session.
* `token_usage_monthly`: the same tokens per tenant, month and user, plus one row per tenant and month for
  the whole tenant (user_id all zeros): what a quota check reads, two rows by primary key, however many
  users and days the month has.
* `tenant_quotas`: tokens per month for the tenant and for each of its users, and stored bytes; NULL is
  no limit. Tenant admins set them.
The functions' role reads and writes them within its tenant (RLS); it never deletes usage.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from helpers import APP_ROLE, TS

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rls(table: str) -> None:
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON {table} TO {APP_ROLE}")
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"""
        CREATE POLICY tenant_isolation ON {table}
        USING (tenant_id = app_current_tenant()) WITH CHECK (tenant_id = app_current_tenant())
    """)


def upgrade() -> None:
    def tokens() -> list[sa.Column]:
        return [sa.Column("input_tokens", sa.BigInteger(), nullable=False, server_default="0"),
                sa.Column("output_tokens", sa.BigInteger(), nullable=False, server_default="0"),
                sa.Column("questions", sa.Integer(), nullable=False, server_default="0")]

    op.create_table(
        "token_usage_daily",
        sa.Column("tenant_id", sa.Uuid(), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), primary_key=True),
        sa.Column("assistant_id", sa.Uuid(), primary_key=True),
        sa.Column("model_id", sa.Uuid(), primary_key=True),
        *tokens(),
    )
    op.create_table(
        "token_usage_monthly",
        sa.Column("tenant_id", sa.Uuid(), primary_key=True),
        sa.Column("month", sa.Date(), primary_key=True),
        sa.Column("user_id", sa.Uuid(), primary_key=True),
        *tokens(),
    )
    op.create_table(
        "tenant_quotas",
        sa.Column("tenant_id", sa.Uuid(), sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("tokens_per_month", sa.BigInteger()),
        sa.Column("tokens_per_user_per_month", sa.BigInteger()),
        sa.Column("storage_bytes", sa.BigInteger()),
        sa.Column("updated_at", TS, nullable=False),
    )
    for table in ("token_usage_daily", "token_usage_monthly", "tenant_quotas"):
        _rls(table)


def downgrade() -> None:
    for table in ("tenant_quotas", "token_usage_monthly", "token_usage_daily"):
        op.drop_table(table)
