"""The audit log: `audit_entries`, append-only, with a retention period per tenant.

Revision ID: 0018
Revises: 0017

* The functions' role (APP_ROLE) gets SELECT and INSERT only, within its tenant (RLS): it cannot UPDATE or
  DELETE an entry, whatever a bug or an injected statement tries. The sysadmin's transactions may insert
  into any tenant's log (a tenant suspended by the operator is recorded in that tenant's log).
* A trigger makes the table append-only for every role but a superuser: an UPDATE is refused, and a DELETE
  (or TRUNCATE) too, except of an entry older than its tenant's retention period.
* `tenants.audit_retention_days` (365 unless the sysadmin sets it, 30 to 3650): the log's own retention.
  `audit_purge_expired()` (SECURITY DEFINER, owned by the migration role) deletes exactly the entries past
  it and returns how many per tenant; the functions may call it, and it can delete nothing younger.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from helpers import APP_ROLE, TS
from sqlalchemy.dialects import postgresql as pg

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("audit_retention_days", sa.Integer(), nullable=False, server_default="365"))
    op.create_check_constraint("audit_retention_days_range", "tenants",
                               "audit_retention_days BETWEEN 30 AND 3650")
    op.create_table(
        "audit_entries",
        sa.Column("id", sa.Uuid(), primary_key=True),
        # No foreign keys: an entry outlives what it names (a deleted user, collection or key), and a key on
        # tenants would cost every insert a look-up and a row lock on the tenant (measured: bench/audit_latency.py).
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", TS, nullable=False, server_default=sa.text("clock_timestamp()")),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("actor_type", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.Uuid()),
        sa.Column("actor_label", sa.String(320)),
        sa.Column("api_key_id", sa.Uuid()),
        sa.Column("target_type", sa.String(32)),
        sa.Column("target_id", sa.Uuid()),
        sa.Column("target_label", sa.String(500)),
        sa.Column("source_ip", sa.String(64)),
        sa.Column("request_id", sa.String(128)),
        sa.Column("details", pg.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.CheckConstraint("outcome IN ('success', 'failure')", name="outcome_known"),
    )
    # By tenant and time (read backwards for newest first): the listing, its cursor, its filters and the purge
    # walk it. One index only: each more is a write on every request that records an entry.
    op.create_index("ix_audit_entries_tenant_id_created_at_id", "audit_entries", ["tenant_id", "created_at", "id"])

    op.execute(f"GRANT SELECT, INSERT ON audit_entries TO {APP_ROLE}")
    op.execute("ALTER TABLE audit_entries ENABLE ROW LEVEL SECURITY")
    op.execute("CREATE POLICY tenant_reads ON audit_entries FOR SELECT USING (tenant_id = app_current_tenant())")
    op.execute("""
        CREATE POLICY tenant_or_sysadmin_appends ON audit_entries FOR INSERT
        WITH CHECK (tenant_id = app_current_tenant() OR app_is_sysadmin())
    """)

    op.execute("""
        CREATE FUNCTION audit_entries_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_OP = 'UPDATE' THEN
            RAISE EXCEPTION 'audit entries cannot be changed' USING ERRCODE = 'insufficient_privilege';
          ELSIF TG_OP = 'TRUNCATE' THEN
            RAISE EXCEPTION 'audit entries cannot be truncated' USING ERRCODE = 'insufficient_privilege';
          END IF;
          IF OLD.created_at >= now() - make_interval(days => (
                SELECT t.audit_retention_days FROM tenants t WHERE t.id = OLD.tenant_id)) THEN
            RAISE EXCEPTION 'audit entries are kept for their retention period'
              USING ERRCODE = 'insufficient_privilege';
          END IF;
          RETURN OLD;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
        FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()
    """)
    op.execute("""
        CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
        FOR EACH STATEMENT EXECUTE FUNCTION audit_entries_append_only()
    """)
    op.execute("""
        CREATE FUNCTION audit_purge_expired() RETURNS TABLE (tenant_id uuid, purged bigint)
        LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
        AS $$
          WITH gone AS (
            DELETE FROM audit_entries e USING tenants t
            WHERE t.id = e.tenant_id AND e.created_at < now() - make_interval(days => t.audit_retention_days)
            RETURNING e.tenant_id)
          SELECT gone.tenant_id, count(*) FROM gone GROUP BY gone.tenant_id
        $$
    """)
    op.execute("REVOKE ALL ON FUNCTION audit_purge_expired() FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION audit_purge_expired() TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS audit_purge_expired()")
    op.drop_table("audit_entries")  # its triggers go with it
    op.execute("DROP FUNCTION IF EXISTS audit_entries_append_only()")
    op.drop_constraint("ck_tenants_audit_retention_days_range", "tenants", type_="check")
    op.drop_column("tenants", "audit_retention_days")
