"""Personal data before external providers: who asks for masking, and which providers are local.

Revision ID: 0013
Revises: 0010

* `tenants.protect_personal_data`: the organisation masks personal data for every assistant.
* `assistants.personal_data`: `tenant` (as the organisation chose), `mask`, or `local_model` (questions holding
  personal data go to a local model).
* `model_providers.local`: the provider runs on the organisation's own infrastructure; the managed one (the
  deployment's own model server) always does.
See eneo.answers.protection.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POLICY = postgresql.ENUM("tenant", "mask", "local_model", name="personal_data_policy")


def upgrade() -> None:
    op.add_column("tenants", sa.Column("protect_personal_data", sa.Boolean(), nullable=False,
                                       server_default=sa.false()))
    POLICY.create(op.get_bind())
    op.add_column("assistants", sa.Column("personal_data", POLICY, nullable=False, server_default="tenant"))
    op.add_column("model_providers", sa.Column("local", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE model_providers SET local = true WHERE managed")


def downgrade() -> None:
    op.drop_column("model_providers", "local")
    op.drop_column("assistants", "personal_data")
    POLICY.drop(op.get_bind())
    op.drop_column("tenants", "protect_personal_data")
