"""Knowledge: embedding and transcription models, collections (groups), documents (info blobs), chunks with vectors,
assistants' collections, and answers' references; with Row-Level Security.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from helpers import APP_ROLE, TS, entity_columns, fk, tenant_rls
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql as pg

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("embedding_models", "transcription_models", "groups", "info_blobs", "chunks", "assistant_groups")
ENSURE_INDEX = "ensure_embedding_index(uuid, integer)"
DROP_INDEX = "drop_embedding_index(uuid)"
TEXT_MATCHES = "chunk_text_matches(uuid, uuid[], tsquery, integer)"


def upgrade() -> None:
    # On managed Postgres the extension is created once by the master user (infra/README.md).
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    blob_status = pg.ENUM("uploading", "processing", "embedding", "ready", "failed", name="info_blob_status")

    op.create_table(
        "embedding_models",
        *entity_columns(),
        fk("tenant_id", "tenants.id"),
        # NULL: the built-in local model. No cascade: a provider with embedding models cannot be deleted.
        fk("provider_id", "model_providers.id", ondelete=None, nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("dimensions", sa.Integer(), nullable=False),
        sa.Column("max_input_tokens", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("managed", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("tenant_id", "provider_id", "name", name="uq_embedding_models_tenant_id_provider_id_name",
                            postgresql_nulls_not_distinct=True),
        sa.CheckConstraint("dimensions BETWEEN 1 AND 4096", name="ck_embedding_models_dimensions_in_range"),
        sa.CheckConstraint("max_input_tokens > 0", name="ck_embedding_models_max_input_tokens_positive"),
        sa.CheckConstraint("enabled OR NOT is_default", name="ck_embedding_models_default_is_enabled"),
        sa.CheckConstraint("managed = (provider_id IS NULL)", name="ck_embedding_models_managed_is_local"),
    )
    op.create_index("ix_embedding_models_tenant_id", "embedding_models", ["tenant_id"])
    op.create_index("ix_embedding_models_provider_id", "embedding_models", ["provider_id"])
    op.create_index("uq_embedding_models_default", "embedding_models", ["tenant_id"], unique=True,
                    postgresql_where=sa.text("is_default"))

    # Speech-to-text models for audio documents (not completion models: those are offered to assistants).
    op.create_table(
        "transcription_models",
        *entity_columns(),
        fk("tenant_id", "tenants.id"),
        # RESTRICT: a provider with transcription models cannot be deleted.
        fk("provider_id", "model_providers.id", ondelete="RESTRICT"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("tenant_id", "provider_id", "name",
                            name="uq_transcription_models_tenant_id_provider_id_name"),
        sa.CheckConstraint("enabled OR NOT is_default", name="ck_transcription_models_default_is_enabled"),
    )
    op.create_index("ix_transcription_models_tenant_id", "transcription_models", ["tenant_id"])
    op.create_index("ix_transcription_models_provider_id", "transcription_models", ["provider_id"])
    op.create_index("uq_transcription_models_default", "transcription_models", ["tenant_id"], unique=True,
                    postgresql_where=sa.text("is_default"))

    op.create_table(
        "groups",
        *entity_columns(),
        fk("tenant_id", "tenants.id"),
        fk("space_id", "spaces.id"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        fk("embedding_model_id", "embedding_models.id", ondelete=None),
        fk("created_by", "users.id", ondelete="SET NULL", nullable=True),
    )
    for column in ("tenant_id", "space_id", "embedding_model_id"):
        op.create_index(f"ix_groups_{column}", "groups", [column])

    op.create_table(
        "info_blobs",
        *entity_columns(),
        fk("tenant_id", "tenants.id"),
        fk("group_id", "groups.id"),
        fk("uploaded_by", "users.id", ondelete="SET NULL", nullable=True),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("declared_type", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(200)),
        sa.Column("size_bytes", sa.BigInteger()),
        sa.Column("content_hash", sa.String(64)),
        sa.Column("object_key", sa.String(1024), nullable=False),
        sa.Column("status", blob_status, nullable=False),
        sa.Column("error_code", sa.String(64)),
        sa.Column("error_message", sa.String(500)),
        sa.Column("pages", sa.Integer()),
        sa.Column("chunks_total", sa.Integer(), nullable=False),
        sa.Column("chunks_embedded", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        fk("embedding_model_id", "embedding_models.id", ondelete="SET NULL", nullable=True),
        sa.Column("processed_at", TS),
        sa.UniqueConstraint("object_key", name="uq_info_blobs_object_key"),
    )
    for column in ("tenant_id", "uploaded_by", "embedding_model_id"):
        op.create_index(f"ix_info_blobs_{column}", "info_blobs", [column])
    op.create_index("ix_info_blobs_group_created", "info_blobs", ["group_id", "created_at", "id"])
    op.create_index("uq_info_blobs_group_content", "info_blobs", ["group_id", "content_hash"], unique=True,
                    postgresql_where=sa.text("content_hash IS NOT NULL AND status <> 'failed'"))

    op.create_table(
        "chunks",
        sa.Column("id", sa.Uuid(), primary_key=True),
        fk("tenant_id", "tenants.id"),
        fk("group_id", "groups.id"),
        fk("info_blob_id", "info_blobs.id"),
        sa.Column("chunk_index", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("token_count", sa.Integer(), nullable=False),
        sa.Column("page", sa.Integer()),
        sa.Column("embedding", Vector()),  # no dimension: one partial HNSW index per model (below)
        fk("embedding_model_id", "embedding_models.id", ondelete="SET NULL", nullable=True),
        sa.Column("tsv", pg.TSVECTOR(), sa.Computed("to_tsvector('simple'::regconfig, text)", persisted=True),
                  nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("info_blob_id", "chunk_index", name="uq_chunks_info_blob_id_chunk_index"),
    )
    op.create_index("ix_chunks_tenant_id", "chunks", ["tenant_id"])
    op.create_index("ix_chunks_group_model", "chunks", ["group_id", "embedding_model_id"])
    op.create_index("ix_chunks_tsv", "chunks", ["tsv"], postgresql_using="gin")

    op.create_table(
        "assistant_groups",
        sa.Column("assistant_id", sa.Uuid(), sa.ForeignKey("assistants.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("group_id", sa.Uuid(), sa.ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
        fk("tenant_id", "tenants.id"),
    )
    op.create_index("ix_assistant_groups_group_id", "assistant_groups", ["group_id"])
    op.create_index("ix_assistant_groups_tenant_id", "assistant_groups", ["tenant_id"])

    op.add_column("questions", sa.Column("references", pg.JSONB(), nullable=False,
                                         server_default=sa.text("'[]'::jsonb")))

    for table in TABLES:
        tenant_rls(table)

    # Vectors of two models never mix in one collection: a vector written for a model the collection no
    # longer uses (an embedding that finished after the collection moved to another model) is not written
    # (an INSERT of one is an error). The trigger reads the collection's model when the write happens, so
    # it sees a model change committed while the write waited for its row.
    op.execute("""
        CREATE FUNCTION chunks_keep_the_collections_model() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.embedding IS NOT NULL AND NEW.embedding_model_id IS DISTINCT FROM
             (SELECT g.embedding_model_id FROM groups g WHERE g.id = NEW.group_id) THEN
            IF TG_OP = 'INSERT' THEN
              RAISE EXCEPTION 'chunk vector of model % is not of its collection''s model', NEW.embedding_model_id
                USING ERRCODE = 'check_violation';
            END IF;
            RETURN NULL;  -- a late write for the previous model: skipped
          END IF;
          RETURN NEW;
        END $$
    """)
    op.execute("""
        CREATE TRIGGER chunks_keep_the_collections_model
        BEFORE INSERT OR UPDATE OF embedding, embedding_model_id ON chunks
        FOR EACH ROW EXECUTE FUNCTION chunks_keep_the_collections_model()
    """)

    # The app role owns no table, so it cannot create indexes: this function (owned by the migration
    # role) creates a model's HNSW index, for a model of the caller's tenant only, with the dimension
    # its row states. The index name and predicate come from a uuid and an integer: nothing to inject.
    op.execute("""
        CREATE FUNCTION ensure_embedding_index(p_model_id uuid, p_dims integer) RETURNS void
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        BEGIN
          IF NOT EXISTS (SELECT 1 FROM embedding_models
                         WHERE id = p_model_id AND tenant_id = app_current_tenant()) THEN
            RAISE EXCEPTION 'no embedding model % in this tenant', p_model_id USING ERRCODE = 'no_data_found';
          END IF;
          IF NOT EXISTS (SELECT 1 FROM embedding_models WHERE id = p_model_id AND dimensions = p_dims) THEN
            RAISE EXCEPTION 'embedding model % does not have % dimensions', p_model_id, p_dims
              USING ERRCODE = 'invalid_parameter_value';
          END IF;
          -- pgvector's HNSW indexes up to 2000 dimensions (vector): larger models are searched exactly.
          IF p_dims > 2000 THEN
            RETURN;
          END IF;
          EXECUTE format(
            'CREATE INDEX IF NOT EXISTS %I ON chunks USING hnsw ((embedding::vector(%s)) vector_cosine_ops) '
            'WHERE embedding_model_id = %L',
            'chunks_hnsw_' || replace(p_model_id::text, '-', ''), p_dims, p_model_id::text);
        END $$
    """)
    # A deleted model's index goes with it (only once no row of that id is left, in any tenant).
    op.execute("""
        CREATE FUNCTION drop_embedding_index(p_model_id uuid) RETURNS void
        LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        BEGIN
          IF EXISTS (SELECT 1 FROM embedding_models WHERE id = p_model_id) THEN
            RAISE EXCEPTION 'embedding model % still exists', p_model_id USING ERRCODE = 'object_in_use';
          END IF;
          EXECUTE format('DROP INDEX IF EXISTS %I', 'chunks_hnsw_' || replace(p_model_id::text, '-', ''));
        END $$
    """)
    # Full-text matches for retrieval (eneo.retrieval.lexical). Under Row-Level Security the planner may not
    # use the GIN index on tsv for the app role (`@@` is not leakproof, so it cannot run before the policy),
    # and every search read all rows of its collections (130-370 ms at 20-40k chunks, 1-4 ms through this).
    # Runs as the owner, for the transaction's own tenant only; planned per call with the actual tsquery.
    op.execute("""
        CREATE FUNCTION chunk_text_matches(p_tenant_id uuid, p_group_ids uuid[], p_query tsquery, p_limit integer)
        RETURNS TABLE (id uuid, tsv tsvector)
        LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
        BEGIN
          IF p_tenant_id IS DISTINCT FROM app_current_tenant() THEN
            RETURN;
          END IF;
          RETURN QUERY EXECUTE
            'SELECT c.id, c.tsv FROM chunks c WHERE c.tenant_id = $1 AND c.group_id = ANY($2) AND c.tsv @@ $3 '
            'LIMIT $4' USING p_tenant_id, p_group_ids, p_query, p_limit;
        END $$
    """)
    for fn in (ENSURE_INDEX, DROP_INDEX, TEXT_MATCHES):
        op.execute(f"REVOKE ALL ON FUNCTION {fn} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {fn} TO {APP_ROLE}")


def downgrade() -> None:
    for fn in (ENSURE_INDEX, DROP_INDEX, TEXT_MATCHES):
        op.execute(f"DROP FUNCTION IF EXISTS {fn}")
    op.drop_column("questions", "references")
    op.execute("DROP TRIGGER IF EXISTS chunks_keep_the_collections_model ON chunks")
    op.execute("DROP FUNCTION IF EXISTS chunks_keep_the_collections_model()")
    for table in reversed(TABLES):
        op.drop_table(table)
    op.execute("DROP TYPE IF EXISTS info_blob_status")
