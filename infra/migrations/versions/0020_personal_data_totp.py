"""Personal data before external providers (who asks for masking, which providers are local), and a
second factor (TOTP) for password users.

Revision ID: 0020
Revises: 0019

* `tenants.protect_personal_data`: the organisation masks personal data for every assistant.
* `assistants.personal_data`: `tenant` (as the organisation chose), `mask`, or `local_model` (questions holding
  personal data go to a local model).
* `model_providers.local`: the provider runs on the organisation's own infrastructure; the managed one (the
  deployment's own model server) always does.
See eneo.answers.protection.
* `users.totp_*`: the authenticator secret (encrypted), when it was confirmed, the last time step accepted,
  and the unused recovery codes' keyed hashes (eneo.users.second_factor).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020"
down_revision: str | None = "0019"
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
    op.add_column("users", sa.Column("totp_secret_encrypted", sa.LargeBinary()))
    op.add_column("users", sa.Column("totp_enabled_at", sa.DateTime(timezone=True)))
    op.add_column("users", sa.Column("totp_last_step", sa.BigInteger()))
    op.add_column("users", sa.Column("totp_recovery_hashes", postgresql.JSONB(), nullable=False,
                                     server_default="[]"))


def downgrade() -> None:
    for column in ("totp_recovery_hashes", "totp_last_step", "totp_enabled_at", "totp_secret_encrypted"):
        op.drop_column("users", column)
    op.drop_column("model_providers", "local")
    op.drop_column("assistants", "personal_data")
    POLICY.drop(op.get_bind())
    op.drop_column("tenants", "protect_personal_data")
