"""How a collection's chunks are embedded: `groups.document_purpose` (issue 14: E5's "passage: " prefix).

Revision ID: 0027
Revises: 0026

multilingual-e5-small embeds a chunk with "passage: " and a question with "query: " (eneo.embeddings.e5);
before this revision every chunk was embedded as a query. `document_purpose` says which form a collection's
chunks have: `document` (new collections), or `query` for existing collections on the built-in
multilingual-e5-small, whose vectors were made that way. Ingestion embeds new chunks of a collection in the
form it records, so the two never mix in one collection; re-embedding (PATCH the collection with its own
`embedding_model_id`) makes every vector again as a document and sets `document_purpose = 'document'`.
Other models have one form for both, so their collections are `document` already.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("groups", sa.Column("document_purpose", sa.String(16), nullable=False, server_default="document"))
    op.create_check_constraint("ck_groups_document_purpose", "groups", "document_purpose IN ('document', 'query')")
    op.execute("""
        UPDATE groups SET document_purpose = 'query'
        WHERE embedding_model_id IN (SELECT id FROM embedding_models
                                     WHERE provider_id IS NULL AND name = 'multilingual-e5-small')
    """)


def downgrade() -> None:
    op.drop_constraint("ck_groups_document_purpose", "groups", type_="check")
    op.drop_column("groups", "document_purpose")
