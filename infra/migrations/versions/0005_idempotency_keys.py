"""Idempotency keys of asks: a client that retries an ask with the same `Idempotency-Key` gets the same question.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from helpers import TS, entity_columns, fk, tenant_rls

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        *entity_columns(),
        fk("tenant_id", "tenants.id"),
        fk("user_id", "users.id"),
        fk("question_id", "questions.id"),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        # Keys are the user's own: user ids are unique across tenants, and RLS keeps tenants apart.
        sa.UniqueConstraint("user_id", "key", name="uq_idempotency_keys_user_id_key"),
    )
    op.create_index("ix_idempotency_keys_tenant_id", "idempotency_keys", ["tenant_id"])
    op.create_index("ix_idempotency_keys_question_id", "idempotency_keys", ["question_id"])  # cascades
    tenant_rls("idempotency_keys")


def downgrade() -> None:
    op.drop_table("idempotency_keys")
