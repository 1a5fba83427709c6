"""Single sign-on: one OpenID Connect provider per tenant, users known by the provider's subject.

Revision ID: 0023
Revises: 0022 (permissions and groups, which came first on another branch)

* `sso_providers`: the tenant's OpenID Connect provider (issuer, client id, the client secret encrypted like a
  model provider's key), the claim whose values map to a tenant role (`role_mappings`, a list of
  `{"value", "role"}`), the role of a user the mapping does not name, and whether password sign-in stays on.
* `users.sso_subject`: the provider's `sub` of a user who signed in through it (unique per tenant), so a changed
  e-mail address at the provider still finds the same account.
* `auth_find_sso_provider(tenant)`: the tenant's provider by tenant id or name, before any tenant is bound.
See eneo.sso.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from helpers import APP_ROLE, entity_columns, fk, tenant_rls
from sqlalchemy.dialects import postgresql

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

USER_ROLE = postgresql.ENUM("admin", "user", name="user_role", create_type=False)


def upgrade() -> None:
    op.create_table(
        "sso_providers",
        *entity_columns(),
        fk("tenant_id", "tenants.id"),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("issuer", sa.String(500), nullable=False),
        sa.Column("client_id", sa.String(300), nullable=False),
        sa.Column("client_secret_encrypted", sa.LargeBinary()),
        sa.Column("scopes", sa.String(300), nullable=False, server_default="openid email profile"),
        sa.Column("role_claim", sa.String(100), nullable=False, server_default="groups"),
        sa.Column("role_mappings", postgresql.JSONB(), nullable=False, server_default="[]"),
        sa.Column("default_role", USER_ROLE, nullable=False, server_default="user"),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("password_login", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.create_index("uq_sso_providers_tenant_id", "sso_providers", ["tenant_id"], unique=True)
    tenant_rls("sso_providers")
    op.add_column("users", sa.Column("sso_subject", sa.String(255)))
    op.create_index("uq_users_tenant_id_sso_subject", "users", ["tenant_id", "sso_subject"], unique=True)
    op.execute("""
        CREATE FUNCTION auth_find_sso_provider(p_tenant text)
        RETURNS TABLE (id uuid, tenant_id uuid)
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
        AS $$
          SELECT p.id, p.tenant_id FROM sso_providers p JOIN tenants t ON t.id = p.tenant_id
          WHERE p.enabled AND (t.id::text = lower(p_tenant) OR t.name = p_tenant)
        $$
    """)
    op.execute("REVOKE ALL ON FUNCTION auth_find_sso_provider(text) FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION auth_find_sso_provider(text) TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS auth_find_sso_provider(text)")
    op.drop_index("uq_users_tenant_id_sso_subject", "users")
    op.drop_column("users", "sso_subject")
    op.drop_table("sso_providers")
