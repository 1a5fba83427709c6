"""Permissions and groups (issue 15, part 1): custom tenant roles, user groups, groups as space members,
models limited to groups.

Revision ID: 0022
Revises: 0021

A user's permissions come from the built-in role in `users.role` (admin, user) unless `users.role_id`
names one of the tenant's custom roles. A role in use cannot be deleted (the foreign key has no ON DELETE
action; the service says so first). `space_access` is the effective space role of every user: the highest
of the direct membership and those of the user's groups. It is a `security_invoker` view, so the
tenant isolation policies of the tables under it bind the functions' role as if it read them itself.
`allowed_group_ids` on the three model tables is NULL (or empty) for "everyone in the tenant".
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from helpers import APP_ROLE, entity_columns, fk, tenant_rls
from sqlalchemy.dialects import postgresql as pg

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MODEL_TABLES = ("completion_models", "embedding_models", "transcription_models")


def upgrade() -> None:
    op.create_table(
        "roles",
        *entity_columns(),
        fk("tenant_id", "tenants.id"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("permissions", pg.ARRAY(sa.String(64)), nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name="uq_roles_tenant_id_name"),
    )
    op.create_index("ix_roles_tenant_id", "roles", ["tenant_id"])
    tenant_rls("roles")
    op.add_column("users", sa.Column("role_id", sa.Uuid(), nullable=True))
    op.create_foreign_key("fk_users_role", "users", "roles", ["role_id"], ["id"])
    op.create_index("ix_users_role_id", "users", ["role_id"])

    op.create_table(
        "user_groups",
        *entity_columns(),
        fk("tenant_id", "tenants.id"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name="uq_user_groups_tenant_id_name"),
    )
    op.create_index("ix_user_groups_tenant_id", "user_groups", ["tenant_id"])
    op.create_table(
        "user_group_members",
        sa.Column("group_id", sa.Uuid(), sa.ForeignKey("user_groups.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.Uuid(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        fk("tenant_id", "tenants.id"),
    )
    op.create_index("ix_user_group_members_user_id", "user_group_members", ["user_id"])
    op.create_index("ix_user_group_members_tenant_id", "user_group_members", ["tenant_id"])
    op.create_table(
        "space_group_members",
        sa.Column("space_id", sa.Uuid(), sa.ForeignKey("spaces.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("group_id", sa.Uuid(), sa.ForeignKey("user_groups.id", ondelete="CASCADE"), primary_key=True),
        fk("tenant_id", "tenants.id"),
        sa.Column("role", pg.ENUM(name="space_role", create_type=False), nullable=False),
    )
    op.create_index("ix_space_group_members_group_id", "space_group_members", ["group_id"])
    op.create_index("ix_space_group_members_tenant_id", "space_group_members", ["tenant_id"])
    for table in ("user_groups", "user_group_members", "space_group_members"):
        tenant_rls(table)
    op.execute("""
        CREATE VIEW space_access WITH (security_invoker = true) AS
        SELECT space_id, user_id, tenant_id, max(role) AS role FROM (
          SELECT space_id, user_id, tenant_id, role FROM space_members
          UNION ALL
          SELECT sg.space_id, ug.user_id, sg.tenant_id, sg.role
          FROM space_group_members sg JOIN user_group_members ug ON ug.group_id = sg.group_id
        ) AS granted GROUP BY space_id, user_id, tenant_id
    """)
    op.execute(f"GRANT SELECT ON space_access TO {APP_ROLE}")
    for table in MODEL_TABLES:
        op.add_column(table, sa.Column("allowed_group_ids", pg.ARRAY(sa.Uuid()), nullable=True))


def downgrade() -> None:
    for table in MODEL_TABLES:
        op.drop_column(table, "allowed_group_ids")
    op.execute("DROP VIEW space_access")
    for table in ("space_group_members", "user_group_members", "user_groups"):
        op.drop_table(table)
    op.drop_index("ix_users_role_id", "users")
    op.drop_constraint("fk_users_role", "users", type_="foreignkey")
    op.drop_column("users", "role_id")
    op.drop_table("roles")
