"""Row-Level Security and grants, the same for every tenant-owned table.

The functions connect as APP_ROLE, which owns nothing: RLS binds it without FORCE, while the
owner (the migration role) keeps the SECURITY DEFINER look-ups that must cross tenants (login,
API-key prefix) working.
"""

import os

import sqlalchemy as sa
from alembic import op

APP_ROLE = os.environ.get("ENEO_APP_ROLE", "eneo_app")


def ensure_app_role() -> None:
    op.execute(f"""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
            CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
          END IF;
        END $$;
    """)
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute("""
        CREATE OR REPLACE FUNCTION app_current_tenant() RETURNS uuid
        LANGUAGE sql STABLE AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$
    """)
    op.execute("""
        CREATE OR REPLACE FUNCTION app_is_sysadmin() RETURNS boolean
        LANGUAGE sql STABLE AS $$ SELECT coalesce(current_setting('app.sysadmin', true), '') = 'on' $$
    """)


def grant_app(table: str) -> None:
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")


def tenant_rls(table: str, column: str = "tenant_id") -> None:
    """Rows are visible to, and writable by, the transaction's tenant only."""
    grant_app(table)
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"""
        CREATE POLICY tenant_isolation ON {table}
        USING ({column} = app_current_tenant())
        WITH CHECK ({column} = app_current_tenant())
    """)


TS = sa.DateTime(timezone=True)


def entity_columns() -> list[sa.Column]:
    """UUID key and timestamps, as eneo.core.db.Entity maps them."""
    return [
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    ]


def fk(column: str, target: str, ondelete: str | None = "CASCADE", nullable: bool = False) -> sa.Column:
    """A UUID foreign key; `tenant_id` columns are `fk("tenant_id", "tenants.id")`."""
    return sa.Column(column, sa.Uuid(), sa.ForeignKey(target, ondelete=ondelete), nullable=nullable)
