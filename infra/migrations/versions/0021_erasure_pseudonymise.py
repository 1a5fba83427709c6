"""An erased user's audit entries are pseudonymised, not dropped, and their token counts lose their name
(issue 15 part 4).

The log stays append-only for the functions' role (SELECT and INSERT only) and for the owner (the trigger):
the one change it admits is `audit_pseudonymise_user()` (SECURITY DEFINER) replacing the labels that name
the user (`actor_label`, `target_label`: an e-mail or a name at the time) with "erased user", inside the
caller's tenant only. The ids stay as opaque keys, so an officer can still see that one person did these
things; every other column is compared and must be unchanged, or the trigger refuses the update.

`usage_forget_user()` (SECURITY DEFINER; the functions' role may not delete counters) moves the user's daily
tokens to the ERASED_USERS row (uuid 1) of the same day, assistant and model, so the tenant's, assistants'
and models' totals stay right, and drops the user's monthly counters (the tenant's stays).
"""

from collections.abc import Sequence

from alembic import op
from helpers import APP_ROLE

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REFUSE_UPDATE = """
          IF TG_OP = 'UPDATE' THEN
            RAISE EXCEPTION 'audit entries cannot be changed' USING ERRCODE = 'insufficient_privilege';
"""
_PSEUDONYMISE_OR_REFUSE = """
          IF TG_OP = 'UPDATE' THEN
            IF current_setting('app.audit_pseudonymise', true) = 'on'
               AND (NEW.id, NEW.tenant_id, NEW.created_at, NEW.action, NEW.outcome, NEW.actor_type, NEW.actor_id,
                    NEW.api_key_id, NEW.target_type, NEW.target_id, NEW.source_ip, NEW.request_id, NEW.details)
                   IS NOT DISTINCT FROM
                   (OLD.id, OLD.tenant_id, OLD.created_at, OLD.action, OLD.outcome, OLD.actor_type, OLD.actor_id,
                    OLD.api_key_id, OLD.target_type, OLD.target_id, OLD.source_ip, OLD.request_id, OLD.details)
            THEN
              RETURN NEW;
            END IF;
            RAISE EXCEPTION 'audit entries cannot be changed' USING ERRCODE = 'insufficient_privilege';
"""


def _trigger_function(update_rule: str) -> str:
    """The trigger function of 0018 with its rule for UPDATE, one of the two constants above."""
    return """
        CREATE OR REPLACE FUNCTION audit_entries_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          UPDATE_RULE
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
    """.replace("UPDATE_RULE", update_rule.strip())


def upgrade() -> None:
    op.execute(_trigger_function(_PSEUDONYMISE_OR_REFUSE))
    op.execute("""
        CREATE FUNCTION audit_pseudonymise_user(p_user uuid, p_email text) RETURNS bigint
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
        AS $$
        DECLARE
          changed bigint;
        BEGIN
          PERFORM set_config('app.audit_pseudonymise', 'on', true);
          UPDATE audit_entries e SET
            actor_label = CASE WHEN e.actor_id = p_user OR lower(e.actor_label) = lower(p_email)
                               THEN 'erased user' ELSE e.actor_label END,
            target_label = CASE WHEN e.target_id = p_user OR lower(e.target_label) = lower(p_email)
                                THEN 'erased user' ELSE e.target_label END
          WHERE e.tenant_id = app_current_tenant()
            AND (e.actor_id = p_user OR e.target_id = p_user
                 OR lower(e.actor_label) = lower(p_email) OR lower(e.target_label) = lower(p_email));
          GET DIAGNOSTICS changed = ROW_COUNT;
          PERFORM set_config('app.audit_pseudonymise', 'off', true);
          RETURN changed;
        END $$
    """)
    op.execute("""
        CREATE FUNCTION usage_forget_user(p_user uuid) RETURNS void
        LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
        AS $$
          INSERT INTO token_usage_daily AS d (tenant_id, day, user_id, assistant_id, model_id, input_tokens,
                                              output_tokens, questions)
          SELECT tenant_id, day, '00000000-0000-0000-0000-000000000001', assistant_id, model_id, input_tokens,
                 output_tokens, questions
          FROM token_usage_daily WHERE tenant_id = app_current_tenant() AND user_id = p_user
          ON CONFLICT (tenant_id, day, user_id, assistant_id, model_id) DO UPDATE SET
            input_tokens = d.input_tokens + EXCLUDED.input_tokens,
            output_tokens = d.output_tokens + EXCLUDED.output_tokens, questions = d.questions + EXCLUDED.questions;
          DELETE FROM token_usage_daily WHERE tenant_id = app_current_tenant() AND user_id = p_user;
          DELETE FROM token_usage_monthly WHERE tenant_id = app_current_tenant() AND user_id = p_user;
        $$
    """)
    for function in ("audit_pseudonymise_user(uuid, text)", "usage_forget_user(uuid)"):
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {APP_ROLE}")


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS usage_forget_user(uuid)")
    op.execute("DROP FUNCTION IF EXISTS audit_pseudonymise_user(uuid, text)")
    op.execute(_trigger_function(_REFUSE_UPDATE))
