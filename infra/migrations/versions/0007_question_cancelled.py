"""A question whose answer the asker stopped: status `cancelled`.

Revision ID: 0007
Revises: 0006

`POST /api/v1/questions/{id}/cancel/` stops an answer; the text streamed until then is kept as the answer
(`partial`), and the status tells a stopped answer from a failed one (a user's choice, not an error).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Postgres 12+ adds an enum value inside a transaction; it is only usable after the commit, which is fine here.
    op.execute("ALTER TYPE question_status ADD VALUE IF NOT EXISTS 'cancelled'")


def downgrade() -> None:
    # An enum value cannot be dropped: stopped answers become failed ones (keeping their text), and the type is
    # rebuilt without the value.
    op.execute("UPDATE questions SET status = 'failed' WHERE status = 'cancelled'")
    op.execute("ALTER TYPE question_status RENAME TO question_status_old")
    op.execute("CREATE TYPE question_status AS ENUM ('queued', 'streaming', 'completed', 'failed')")
    op.execute("ALTER TABLE questions ALTER COLUMN status TYPE question_status "
               "USING status::text::question_status")
    op.execute("DROP TYPE question_status_old")
