"""Security classifications: a tenant's ordered levels; spaces and models carry one (issue 15, part 6).

Revision ID: 0017
Revises: 0016

`security_classification_id` is NULL for "unclassified" (the lowest level). The foreign keys have no
ON DELETE action: a level still carried by a space or a model cannot be deleted (the service says so
first, with counts). The uniqueness of a level's position is deferred to the commit, so a reorder
rewrites every position in one statement-by-statement transaction.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from helpers import entity_columns, fk, tenant_rls

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CARRIERS = ("spaces", "completion_models", "embedding_models", "transcription_models")


def upgrade() -> None:
    op.create_table(
        "security_classifications",
        *entity_columns(),
        fk("tenant_id", "tenants.id"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name="uq_security_classifications_tenant_id_name"),
        sa.UniqueConstraint("tenant_id", "position", name="uq_security_classifications_tenant_id_position",
                            deferrable=True, initially="DEFERRED"),
        sa.CheckConstraint("position >= 1", name="ck_security_classifications_position_positive"),
    )
    op.create_index("ix_security_classifications_tenant_id", "security_classifications", ["tenant_id"])
    tenant_rls("security_classifications")
    for table in CARRIERS:
        op.add_column(table, sa.Column("security_classification_id", sa.Uuid(), nullable=True))
        op.create_foreign_key(f"fk_{table}_security_classification", table,
                              "security_classifications", ["security_classification_id"], ["id"])
        op.create_index(f"ix_{table}_security_classification_id", table, ["security_classification_id"])


def downgrade() -> None:
    for table in CARRIERS:
        op.drop_index(f"ix_{table}_security_classification_id", table)
        op.drop_column(table, "security_classification_id")
    op.drop_table("security_classifications")
