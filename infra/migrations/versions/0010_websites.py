"""Websites as knowledge: websites in spaces, their pages, crawl runs and each run's frontier.

Revision ID: 0010
Revises: 0009

A website's pages are documents (info blobs) of a collection of its own (`groups.kind = 'website'`), so they
go through the same ingest -> embed pipeline as uploads and retrieval needs no new path; `info_blobs.source_url`
is where a page (or a linked file) came from, for citations. One crawl run at a time per website: a partial
unique index on the active ones. The frontier (`crawl_urls`) is the checkpoint a crawl resumes from.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from helpers import TS, entity_columns, fk, tenant_rls
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("groups", sa.Column("kind", sa.String(16), nullable=False, server_default="collection"))
    op.add_column("info_blobs", sa.Column("source_url", sa.Text(), nullable=True))

    op.create_table(
        "websites",
        *entity_columns(),
        fk("tenant_id", "tenants.id"),
        fk("space_id", "spaces.id"),
        fk("group_id", "groups.id"),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("crawl_type", sa.String(16), nullable=False),
        sa.Column("update_interval", sa.String(24), nullable=False),
        sa.Column("max_pages", sa.Integer(), nullable=False),
        sa.Column("max_depth", sa.Integer(), nullable=False),
        sa.Column("download_files", sa.Boolean(), nullable=False),
        sa.Column("auth_username", sa.String(200), nullable=True),
        sa.Column("auth_password_encrypted", sa.LargeBinary(), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("paused_reason", sa.String(500), nullable=True),
        sa.Column("next_run_at", TS, nullable=True),
        sa.Column("last_run_at", TS, nullable=True),
        fk("created_by", "users.id", ondelete="SET NULL", nullable=True),
        sa.UniqueConstraint("group_id"),
    )
    op.create_index("ix_websites_tenant_id", "websites", ["tenant_id"])
    op.create_index("ix_websites_space_id", "websites", ["space_id"])
    op.create_index("ix_websites_next_run_at", "websites", ["next_run_at"])
    tenant_rls("websites")

    op.create_table(
        "crawl_runs",
        *entity_columns(),
        fk("tenant_id", "tenants.id"),
        fk("website_id", "websites.id"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        fk("started_by", "users.id", ondelete="SET NULL", nullable=True),
        sa.Column("pages_found", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("pages_fetched", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("pages_unchanged", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("pages_failed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("pages_removed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("failures", JSONB(), nullable=False, server_default="{}"),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("invocations", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("lease_until", TS, nullable=True),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
    )
    op.create_index("ix_crawl_runs_tenant_id", "crawl_runs", ["tenant_id"])
    op.create_index("ix_crawl_runs_website_created", "crawl_runs", ["website_id", "created_at", "id"])
    op.create_index("uq_crawl_runs_active", "crawl_runs", ["website_id"], unique=True,
                    postgresql_where=sa.text("status IN ('queued', 'running')"))
    tenant_rls("crawl_runs")

    op.create_table(
        "crawl_urls",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        fk("tenant_id", "tenants.id"),
        fk("run_id", "crawl_runs.id"),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.UniqueConstraint("run_id", "url"),
    )
    op.create_index("ix_crawl_urls_run_state", "crawl_urls", ["run_id", "state", "id"])
    tenant_rls("crawl_urls")

    op.create_table(
        "website_pages",
        sa.Column("id", sa.Uuid(), primary_key=True),
        fk("tenant_id", "tenants.id"),
        fk("website_id", "websites.id"),
        fk("info_blob_id", "info_blobs.id", ondelete="SET NULL", nullable=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("title", sa.String(500), nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=True),
        sa.Column("etag", sa.String(500), nullable=True),
        sa.Column("last_modified", sa.String(100), nullable=True),
        sa.Column("seen_run_id", sa.Uuid(), nullable=True),
        sa.Column("links", JSONB(), nullable=False, server_default="[]"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("website_id", "url"),
    )
    op.create_index("ix_website_pages_tenant_id", "website_pages", ["tenant_id"])
    tenant_rls("website_pages")


def downgrade() -> None:
    op.drop_table("website_pages")
    op.drop_table("crawl_urls")
    op.drop_table("crawl_runs")
    op.drop_table("websites")
    op.execute("DELETE FROM groups WHERE kind = 'website'")
    op.drop_column("info_blobs", "source_url")
    op.drop_column("groups", "kind")
