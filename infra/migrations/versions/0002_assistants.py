"""Model providers, completion models, assistants and their prompt versions, with Row-Level Security.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from helpers import TS, entity_columns, fk, tenant_rls
from sqlalchemy.dialects import postgresql as pg

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("model_providers", "completion_models", "assistants", "assistant_prompts")


def upgrade() -> None:
    provider_type = pg.ENUM("openai", "azure", "anthropic", "openai_compatible", name="provider_type")
    op.create_table(
        "model_providers",
        *entity_columns(),
        fk("tenant_id", "tenants.id"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("type", provider_type, nullable=False),
        sa.Column("config", pg.JSONB(), nullable=False),
        sa.Column("credentials_encrypted", sa.LargeBinary()),
        sa.Column("api_key_last4", sa.String(4)),
        sa.Column("managed", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name="uq_model_providers_tenant_id_name"),
    )
    op.create_index("ix_model_providers_tenant_id", "model_providers", ["tenant_id"])
    op.create_index("uq_model_providers_managed", "model_providers", ["tenant_id"], unique=True,
                    postgresql_where=sa.text("managed"))

    op.create_table(
        "completion_models",
        *entity_columns(),
        fk("tenant_id", "tenants.id"),
        # No cascade: a provider with models cannot be deleted.
        fk("provider_id", "model_providers.id", ondelete=None),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("context_window", sa.Integer(), nullable=False),
        sa.Column("max_output_tokens", sa.Integer()),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("provider_id", "name", name="uq_completion_models_provider_id_name"),
        sa.CheckConstraint("context_window > 0", name="ck_completion_models_context_window_positive"),
        sa.CheckConstraint("max_output_tokens IS NULL OR max_output_tokens > 0",
                           name="ck_completion_models_max_output_tokens_positive"),
        sa.CheckConstraint("enabled OR NOT is_default", name="ck_completion_models_default_is_enabled"),
    )
    op.create_index("ix_completion_models_tenant_id", "completion_models", ["tenant_id"])
    op.create_index("ix_completion_models_provider_id", "completion_models", ["provider_id"])
    # At most one default model per tenant.
    op.create_index("uq_completion_models_default", "completion_models", ["tenant_id"], unique=True,
                    postgresql_where=sa.text("is_default"))

    op.create_table(
        "assistants",
        *entity_columns(),
        fk("tenant_id", "tenants.id"),
        fk("space_id", "spaces.id"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("system_prompt", sa.Text(), nullable=False),
        sa.Column("prompt_version", sa.Integer(), nullable=False),
        # No cascade: a model in use by assistants cannot be deleted.
        fk("completion_model_id", "completion_models.id", ondelete=None),
        sa.Column("model_kwargs", pg.JSONB(), nullable=False),
        sa.Column("published", sa.Boolean(), nullable=False),
        fk("created_by", "users.id", ondelete="SET NULL", nullable=True),
    )
    for column in ("tenant_id", "space_id", "completion_model_id"):
        op.create_index(f"ix_assistants_{column}", "assistants", [column])

    op.create_table(
        "assistant_prompts",
        sa.Column("assistant_id", sa.Uuid(), sa.ForeignKey("assistants.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        fk("tenant_id", "tenants.id"),
        sa.Column("text", sa.Text(), nullable=False),
        fk("created_by", "users.id", ondelete="SET NULL", nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_assistant_prompts_tenant_id", "assistant_prompts", ["tenant_id"])

    for table in TABLES:
        tenant_rls(table)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
    op.execute("DROP TYPE IF EXISTS provider_type")
