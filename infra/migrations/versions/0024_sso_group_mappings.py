"""Single sign-on maps a claim's values to user groups too.

Revision ID: 0024
Revises: 0023

* `sso_providers.group_mappings`: a list of `{"value", "group_id"}`; at each sign-in the user's membership in
  the mapped groups follows the provider's `role_claim` (groups in no mapping are left alone). A group deleted
  later simply drops out: the sign-in and the API skip mappings whose group no longer exists. See eneo.sso.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sso_providers", sa.Column("group_mappings", postgresql.JSONB(), nullable=False,
                                             server_default="[]"))


def downgrade() -> None:
    op.drop_column("sso_providers", "group_mappings")
