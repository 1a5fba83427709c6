"""Full-text search in the document's language: `info_blobs.language`, `chunks.ts_config`.

Revision ID: 0025
Revises: 0024

* `info_blobs.language`: `sv`, `en` or `other` (eneo.knowledge.language), given at upload or detected at
  ingestion; NULL until then.
* `chunks.ts_config` (regconfig): the document's configuration (`swedish` for Swedish, else `simple`); `chunks.tsv`
  is now `to_tsvector(ts_config, text)`, so "kommunens" is indexed as "kommun" in a Swedish document. The GIN
  index is rebuilt on the new column.
* Existing documents get their language detected from their first chunks' text (the same detector as
  ingestion); a document without chunks stays NULL and keeps `simple`, the configuration every chunk had.
* `chunk_text_matches` also returns each match's `ts_config`: the search matches each chunk with the query
  stemmed in that chunk's own configuration.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from helpers import APP_ROLE
from sqlalchemy.dialects import postgresql as pg

from eneo.knowledge.language import DETECT_CHARS, detect_language, ts_config

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TEXT_MATCHES = "chunk_text_matches(uuid, uuid[], tsquery, integer)"
_MATCHES_BODY = """
        LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        BEGIN
          IF p_tenant_id IS DISTINCT FROM app_current_tenant() THEN
            RETURN;
          END IF;
          RETURN QUERY EXECUTE
            'SELECT c.id, c.tsv{extra} FROM chunks c WHERE c.tenant_id = $1 AND c.group_id = ANY($2) AND c.tsv @@ $3 '
            'LIMIT $4' USING p_tenant_id, p_group_ids, p_query, p_limit;
        END $$
"""
_SAMPLE = """
SELECT b.id, left(string_agg(c.text, ' ' ORDER BY c.chunk_index), :chars)
FROM info_blobs b JOIN chunks c ON c.info_blob_id = b.id AND c.chunk_index < 20
WHERE b.language IS NULL AND b.id > CAST(:after AS uuid)
GROUP BY b.id ORDER BY b.id LIMIT 500
"""


def _matches_function(returns: str, extra: str) -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {TEXT_MATCHES}")
    op.execute(f"CREATE FUNCTION chunk_text_matches(p_tenant_id uuid, p_group_ids uuid[], p_query tsquery, "
               f"p_limit integer) RETURNS TABLE ({returns})" + _MATCHES_BODY.replace("{extra}", extra))
    op.execute(f"REVOKE ALL ON FUNCTION {TEXT_MATCHES} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {TEXT_MATCHES} TO {APP_ROLE}")


def _detect_existing() -> None:
    """Each existing document's language, from its first chunks, and its chunks' configuration with it."""
    conn = op.get_bind()
    after = "00000000-0000-0000-0000-000000000000"
    while rows := conn.execute(sa.text(_SAMPLE), {"after": after, "chars": DETECT_CHARS}).all():
        found = [{"id": r[0], "language": detect_language(r[1] or "")} for r in rows]
        conn.execute(sa.text("UPDATE info_blobs SET language = :language WHERE id = :id"), found)
        stemmed = [{"id": f["id"], "config": ts_config(f["language"])} for f in found
                   if ts_config(f["language"]) != "simple"]
        if stemmed:
            conn.execute(sa.text("UPDATE chunks SET ts_config = CAST(:config AS regconfig) "
                                 "WHERE info_blob_id = :id"), stemmed)
        after = str(rows[-1][0])


def upgrade() -> None:
    op.add_column("info_blobs", sa.Column("language", sa.String(8)))
    op.add_column("chunks", sa.Column("ts_config", pg.REGCONFIG(), nullable=False,
                                      server_default=sa.text("'simple'::regconfig")))
    op.drop_index("ix_chunks_tsv", table_name="chunks")
    op.drop_column("chunks", "tsv")  # before the updates: each would recompute the old column
    _detect_existing()
    op.add_column("chunks", sa.Column("tsv", pg.TSVECTOR(), sa.Computed("to_tsvector(ts_config, text)", persisted=True),
                                      nullable=False))
    op.create_index("ix_chunks_tsv", "chunks", ["tsv"], postgresql_using="gin")
    _matches_function("id uuid, tsv tsvector, ts_config regconfig", ", c.ts_config")


def downgrade() -> None:
    _matches_function("id uuid, tsv tsvector", "")
    op.drop_index("ix_chunks_tsv", table_name="chunks")
    op.drop_column("chunks", "tsv")
    op.drop_column("chunks", "ts_config")
    op.add_column("chunks", sa.Column("tsv", pg.TSVECTOR(), sa.Computed("to_tsvector('simple'::regconfig, text)",
                                                                        persisted=True), nullable=False))
    op.create_index("ix_chunks_tsv", "chunks", ["tsv"], postgresql_using="gin")
    op.drop_column("info_blobs", "language")
