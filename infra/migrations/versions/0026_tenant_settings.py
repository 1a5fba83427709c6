"""A tenant's admins change their organisation's own settings (issue 15: tenant settings).

The tenants table stays writable by the sysadmin only (its policy's WITH CHECK): a tenant admin must never
rename, suspend or reactivate their own tenant. `tenant_update_settings()` (SECURITY DEFINER) changes the
two settings that are the organisation's to decide, `protect_personal_data` and `audit_retention_days`,
on the caller's tenant row only (`app_current_tenant()`); a NULL argument leaves the setting as it is. The
audit retention can only grow here: a tenant admin must not shorten the trail of their own actions (the
sysadmin still can, through the table); the check constraint still holds it to 30..3650 days.
"""

from collections.abc import Sequence

from alembic import op
from helpers import APP_ROLE

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = "tenant_update_settings(boolean, integer)"


def upgrade() -> None:
    op.execute("""
        CREATE FUNCTION tenant_update_settings(p_protect_personal_data boolean, p_audit_retention_days integer)
        RETURNS void
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
        AS $$
        BEGIN
          IF p_audit_retention_days < (SELECT audit_retention_days FROM tenants WHERE id = app_current_tenant()) THEN
            RAISE EXCEPTION 'only the sysadmin shortens the audit retention' USING ERRCODE = 'insufficient_privilege';
          END IF;
          UPDATE tenants SET
            protect_personal_data = coalesce(p_protect_personal_data, protect_personal_data),
            audit_retention_days = coalesce(p_audit_retention_days, audit_retention_days),
            updated_at = now()
          WHERE id = app_current_tenant();
        END $$
    """)
    op.execute(f"REVOKE ALL ON FUNCTION {FUNCTION} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {FUNCTION} TO {APP_ROLE}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}")
