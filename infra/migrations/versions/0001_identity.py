"""Identity: tenants, users, API keys, spaces and members, with Row-Level Security.

Revision ID: 0001
Revises:
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from helpers import APP_ROLE, TS, ensure_app_role, entity_columns, fk, tenant_rls
from sqlalchemy.dialects import postgresql as pg

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    ensure_app_role()
    tenant_state = pg.ENUM("active", "suspended", name="tenant_state")
    user_role = pg.ENUM("admin", "user", name="user_role")
    user_state = pg.ENUM("invited", "active", "deactivated", name="user_state")
    key_scope = pg.ENUM("user", "assistant", name="api_key_scope")
    space_role = pg.ENUM("viewer", "editor", "admin", name="space_role")

    op.create_table(
        "tenants",
        *entity_columns(),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("state", tenant_state, nullable=False),
    )
    op.create_table(
        "users",
        *entity_columns(),
        fk("tenant_id", "tenants.id"),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(200)),
        sa.Column("role", user_role, nullable=False),
        sa.Column("state", user_state, nullable=False),
        sa.Column("invite_token_hash", sa.String(64), unique=True),
        sa.Column("invite_expires_at", TS),
        sa.Column("last_login_at", TS),
        sa.Column("session_generation", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_users_tenant_id", "users", ["tenant_id"])
    op.create_table(
        "api_keys",
        *entity_columns(),
        fk("tenant_id", "tenants.id"),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False, unique=True),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("last4", sa.String(4), nullable=False),
        sa.Column("scope", key_scope, nullable=False),
        sa.Column("assistant_id", sa.Uuid()),
        sa.Column("expires_at", TS),
        sa.Column("revoked_at", TS),
        sa.Column("last_used_at", TS),
        sa.CheckConstraint("(scope = 'assistant') = (assistant_id IS NOT NULL)", name="scope_matches_assistant"),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"])
    op.create_table(
        "spaces",
        *entity_columns(),
        fk("tenant_id", "tenants.id"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("personal", sa.Boolean(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE")),
    )
    op.create_index("ix_spaces_tenant_id", "spaces", ["tenant_id"])
    op.create_index("uq_spaces_personal_owner", "spaces", ["owner_id"], unique=True,
                    postgresql_where=sa.text("personal"))
    op.create_table(
        "space_members",
        sa.Column("space_id", sa.Uuid(), sa.ForeignKey("spaces.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        fk("tenant_id", "tenants.id"),
        sa.Column("role", space_role, nullable=False),
    )
    op.create_index("ix_space_members_user_id", "space_members", ["user_id"])
    op.create_index("ix_space_members_tenant_id", "space_members", ["tenant_id"])

    # Tenants: a tenant sees its own row; the sysadmin sees all.
    op.execute(f"GRANT SELECT, INSERT, UPDATE ON tenants TO {APP_ROLE}")
    op.execute("ALTER TABLE tenants ENABLE ROW LEVEL SECURITY")
    op.execute("""
        CREATE POLICY tenant_self_or_sysadmin ON tenants
        USING (id = app_current_tenant() OR app_is_sysadmin())
        WITH CHECK (app_is_sysadmin())
    """)
    for table in ("users", "api_keys", "spaces", "space_members"):
        tenant_rls(table)

    # The two look-ups that must work before a tenant is known. They return ids only; the caller
    # then loads and verifies the row inside that tenant's RLS context.
    op.execute("""
        CREATE FUNCTION auth_find_user_by_email(p_email text)
        RETURNS TABLE (id uuid, tenant_id uuid)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
        AS $$ SELECT id, tenant_id FROM users WHERE email = lower(p_email) $$
    """)
    op.execute("""
        CREATE FUNCTION auth_find_api_key(p_prefix text)
        RETURNS TABLE (id uuid, tenant_id uuid)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
        AS $$ SELECT id, tenant_id FROM api_keys WHERE prefix = p_prefix $$
    """)
    op.execute("""
        CREATE FUNCTION auth_find_invite(p_token_hash text)
        RETURNS TABLE (id uuid, tenant_id uuid)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
        AS $$ SELECT id, tenant_id FROM users WHERE invite_token_hash = p_token_hash $$
    """)
    for fn in ("auth_find_user_by_email(text)", "auth_find_api_key(text)", "auth_find_invite(text)"):
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO {APP_ROLE}")


def downgrade() -> None:
    for fn in ("auth_find_user_by_email(text)", "auth_find_api_key(text)", "auth_find_invite(text)"):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    for table in ("space_members", "spaces", "api_keys", "users", "tenants"):
        op.drop_table(table)
    for enum in ("space_role", "api_key_scope", "user_state", "user_role", "tenant_state"):
        op.execute(f"DROP TYPE IF EXISTS {enum}")
