"""Retention periods of conversations per tenant, space and assistant: `retention_policies`.

Revision ID: 0015
Revises: 0010

One row per target (the tenant itself, a space or an assistant); the scheduled retention function deletes
questions older than the most specific period set (eneo.retention). Deleting a space or an assistant drops
its row with it. `ix_questions_assistant_created` lets the function find an assistant's due questions in
bounded batches without reading the newer ones.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from helpers import entity_columns, fk, tenant_rls

revision: str = "0015"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "retention_policies",
        *entity_columns(),
        fk("tenant_id", "tenants.id"),
        fk("space_id", "spaces.id", nullable=True),
        fk("assistant_id", "assistants.id", nullable=True),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.CheckConstraint("days BETWEEN 1 AND 36500", name="days_in_range"),
        sa.CheckConstraint("space_id IS NULL OR assistant_id IS NULL", name="one_target"),
    )
    op.create_index("uq_retention_policies_tenant", "retention_policies", ["tenant_id"], unique=True,
                    postgresql_where=sa.text("space_id IS NULL AND assistant_id IS NULL"))
    op.create_index("uq_retention_policies_space_id", "retention_policies", ["space_id"], unique=True,
                    postgresql_where=sa.text("space_id IS NOT NULL"))
    op.create_index("uq_retention_policies_assistant_id", "retention_policies", ["assistant_id"], unique=True,
                    postgresql_where=sa.text("assistant_id IS NOT NULL"))
    tenant_rls("retention_policies")
    op.create_index("ix_questions_assistant_created", "questions", ["assistant_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_questions_assistant_created", "questions")
    op.drop_table("retention_policies")
