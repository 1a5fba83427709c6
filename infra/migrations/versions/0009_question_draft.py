"""A question asked with an editor's unsaved assistant settings: `questions.draft`.

Revision ID: 0009
Revises: 0008

The assistant editor's test pane asks with the form's settings (prompt, model settings, collections) before
they are saved; the question keeps the ones it set, so the answer (made later by `complete`) uses them and
the saved assistant stays as it is. NULL for a question to the assistant as saved.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("questions", sa.Column("draft", postgresql.JSONB(), nullable=True))


def downgrade() -> None:
    op.drop_column("questions", "draft")
