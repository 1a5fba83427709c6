"""Login sessions (logout, refresh tokens) and e-mail addresses unique per tenant.

Revision ID: 0006
Revises: 0005

* `login_sessions`: one row per login; access tokens carry its id and are refused once it ends
  (eneo.auth.sessions). `auth_find_session` finds one from a refresh token before the tenant is known.
* `users.email` was unique across tenants, so creating a user whose address another organisation had
  answered `email_taken`: it told one organisation who works at another. Now it is unique per tenant,
  and login finds the account in the tenant the client names, or else the address's oldest account.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from helpers import APP_ROLE, TS, entity_columns, fk, tenant_rls

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FIND_BY_EMAIL_V1 = """
    CREATE FUNCTION auth_find_user_by_email(p_email text)
    RETURNS TABLE (id uuid, tenant_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ SELECT id, tenant_id FROM users WHERE email = lower(p_email) $$
"""


def _grant(fn: str) -> None:
    op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO {APP_ROLE}")


def upgrade() -> None:
    op.create_table(
        "login_sessions",
        *entity_columns(),
        fk("tenant_id", "tenants.id"),
        fk("user_id", "users.id"),
        sa.Column("refresh_hash", sa.String(64), nullable=False),
        sa.Column("previous_hash", sa.String(64)),
        sa.Column("rotated_at", TS, nullable=False),
        sa.Column("idle_expires_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("ended_at", TS),
    )
    op.create_index("ix_login_sessions_tenant_id", "login_sessions", ["tenant_id"])
    op.create_index("ix_login_sessions_user_id", "login_sessions", ["user_id"])
    tenant_rls("login_sessions")
    op.execute("""
        CREATE FUNCTION auth_find_session(p_id text)
        RETURNS TABLE (id uuid, tenant_id uuid)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
        AS $$ SELECT id, tenant_id FROM login_sessions WHERE id::text = lower(p_id) $$
    """)
    _grant("auth_find_session(text)")

    op.drop_constraint("uq_users_email", "users", type_="unique")
    op.create_index("uq_users_tenant_id_email", "users", ["tenant_id", "email"], unique=True)
    op.create_index("ix_users_email", "users", ["email"])
    op.execute("DROP FUNCTION auth_find_user_by_email(text)")
    # The tenant may be named by id or by name; without one, the address's oldest account answers, so
    # adding an account in another organisation never changes where an existing user's login goes.
    op.execute("""
        CREATE FUNCTION auth_find_user_by_email(p_email text, p_tenant text)
        RETURNS TABLE (id uuid, tenant_id uuid)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
        AS $$
          SELECT u.id, u.tenant_id FROM users u
          WHERE u.email = lower(p_email)
            AND (coalesce(p_tenant, '') = ''
                 OR u.tenant_id IN (SELECT t.id FROM tenants t WHERE t.id::text = lower(p_tenant) OR t.name = p_tenant))
          ORDER BY u.created_at, u.id
          LIMIT 1
        $$
    """)
    _grant("auth_find_user_by_email(text, text)")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS auth_find_user_by_email(text, text)")
    op.execute(_FIND_BY_EMAIL_V1)
    _grant("auth_find_user_by_email(text)")
    op.drop_index("ix_users_email", "users")
    op.drop_index("uq_users_tenant_id_email", "users")
    op.create_unique_constraint("uq_users_email", "users", ["email"])  # fails if an address is in two tenants
    op.execute("DROP FUNCTION IF EXISTS auth_find_session(text)")
    op.drop_table("login_sessions")
