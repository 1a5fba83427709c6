"""Which pages of a document were read by OCR: `info_blobs.ocr_pages`.

Revision ID: 0016
Revises: 0015

A scanned page's text is Tesseract's reading of it, not the file's own text: someone who cannot find a
passage needs to know which pages may hold misread words. An empty array: no page was OCRed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("info_blobs", sa.Column("ocr_pages", postgresql.ARRAY(sa.Integer()), nullable=False,
                                          server_default=sa.text("'{}'::integer[]")))


def downgrade() -> None:
    op.drop_column("info_blobs", "ocr_pages")
