"""A document whose file is stored and that waits for ingestion: status `queued`.

Revision ID: 0008
Revises: 0007

Documents said `uploading` for minutes after their bytes were in storage while they waited in the ingest
queue; `queued` tells "the file is here, its turn has not come" from "the file has not arrived".
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Postgres 12+ adds an enum value inside a transaction; it is only usable after the commit, which is fine here.
    op.execute("ALTER TYPE info_blob_status ADD VALUE IF NOT EXISTS 'queued' BEFORE 'processing'")


def downgrade() -> None:
    # An enum value cannot be dropped: queued documents go back to `uploading` (which ingest claims as well),
    # and the type is rebuilt without the value. The partial unique index names the status, so it is rebuilt.
    op.execute("UPDATE info_blobs SET status = 'uploading' WHERE status = 'queued'")
    op.execute("DROP INDEX IF EXISTS uq_info_blobs_group_content")
    op.execute("ALTER TABLE info_blobs ALTER COLUMN status DROP DEFAULT")
    op.execute("ALTER TYPE info_blob_status RENAME TO info_blob_status_old")
    op.execute("CREATE TYPE info_blob_status AS ENUM ('uploading', 'processing', 'embedding', 'ready', 'failed')")
    op.execute("ALTER TABLE info_blobs ALTER COLUMN status TYPE info_blob_status "
               "USING status::text::info_blob_status")
    op.execute("DROP TYPE info_blob_status_old")
    op.execute("CREATE UNIQUE INDEX uq_info_blobs_group_content ON info_blobs (group_id, content_hash) "
               "WHERE content_hash IS NOT NULL AND status <> 'failed'")
