"""Sessions and questions (with their answers), with Row-Level Security.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from helpers import TS, entity_columns, fk, tenant_rls
from sqlalchemy.dialects import postgresql as pg

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    status = pg.ENUM("queued", "streaming", "completed", "failed", name="question_status")
    op.create_table(
        "sessions",
        *entity_columns(),
        fk("tenant_id", "tenants.id"),
        fk("assistant_id", "assistants.id"),
        fk("user_id", "users.id"),
        sa.Column("name", sa.String(200), nullable=False),
    )
    op.create_index("ix_sessions_tenant_id", "sessions", ["tenant_id"])
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
    op.create_index("ix_sessions_assistant_user_created", "sessions", ["assistant_id", "user_id", "created_at"])
    op.create_table(
        "questions",
        *entity_columns(),
        fk("tenant_id", "tenants.id"),
        fk("session_id", "sessions.id"),
        fk("user_id", "users.id"),
        fk("assistant_id", "assistants.id"),
        fk("completion_model_id", "completion_models.id", ondelete="SET NULL", nullable=True),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("status", status, nullable=False),
        sa.Column("error_code", sa.String(64)),
        sa.Column("error_message", sa.String(500)),
        sa.Column("input_tokens", sa.Integer()),
        sa.Column("output_tokens", sa.Integer()),
        sa.Column("feedback", sa.SmallInteger()),
        sa.Column("feedback_text", sa.Text()),
        sa.Column("completed_at", TS),
        sa.CheckConstraint("feedback IN (-1, 1)", name="feedback_is_a_vote"),
    )
    op.create_index("ix_questions_tenant_id", "questions", ["tenant_id"])
    op.create_index("ix_questions_session_created", "questions", ["session_id", "created_at"])
    # Deleting an assistant, a user or a model cascades (or sets NULL) here: without these, a scan.
    for column in ("assistant_id", "user_id", "completion_model_id"):
        op.create_index(f"ix_questions_{column}", "questions", [column])
    for table in ("sessions", "questions"):
        tenant_rls(table)


def downgrade() -> None:
    op.drop_table("questions")
    op.drop_table("sessions")
    op.execute("DROP TYPE IF EXISTS question_status")
