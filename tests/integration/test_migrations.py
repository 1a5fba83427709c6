"""The hand-written migrations and the ORM models describe the same schema; a migration that rewrites data
goes up and down on a database of its own."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, make_url, text

from eneo.models import Base, include_name
from eneo_local.services import Endpoints


def test_models_match_the_migrated_schema(db: Endpoints) -> None:
    engine = create_engine(db.database_migration_url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include_name})
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()
    assert diff == [], diff


SWEDISH = "Barnen äter lunch i skolan. Kommunen ansvarar för att maten är god och att den som vill kan få mer."
ENGLISH = "The children have lunch at school. The council is responsible for the food and for more if it is wanted."


def _alembic(url: str, action: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(Path(__file__).resolve().parents[2] / "infra" / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    getattr(command, action)(cfg, revision)


@pytest.fixture
def scratch_url(db: Endpoints) -> Iterator[str]:
    """A database of its own on the test server, for migrating up and down without touching the shared one."""
    name = f"eneo_mig_{uuid.uuid4().hex[:8]}"
    admin = create_engine(db.database_migration_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(db.database_migration_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_0025_indexes_existing_chunks_in_their_documents_language_and_goes_back(scratch_url: str) -> None:
    _alembic(scratch_url, "upgrade", "0024")
    engine = create_engine(scratch_url)
    blobs = {"sv": uuid.uuid4(), "en": uuid.uuid4(), "other": uuid.uuid4()}
    texts = {"sv": SWEDISH, "en": ENGLISH, "other": "Antal;Belopp\n12;4500\n17;3900"}
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))  # rows without their parents
            for lang, blob in blobs.items():
                conn.execute(text(
                    "INSERT INTO info_blobs (id, created_at, updated_at, tenant_id, group_id, title, filename, "
                    "declared_type, object_key, status, chunks_total, chunks_embedded, attempts) VALUES (:id, now(), "
                    "now(), :t, :g, 't', 't.txt', 'text/plain', :key, 'ready', 1, 0, 1)"),
                    {"id": blob, "t": uuid.uuid4(), "g": uuid.uuid4(), "key": str(blob)})
                conn.execute(text(
                    "INSERT INTO chunks (id, tenant_id, group_id, info_blob_id, chunk_index, text, token_count, "
                    "created_at) VALUES (gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), :b, 0, :text, 9, "
                    "now())"), {"b": blob, "text": texts[lang]})
        _alembic(scratch_url, "upgrade", "0025")
        with engine.begin() as conn:
            rows = {r[0]: r[1:] for r in conn.execute(text(
                "SELECT b.language, c.ts_config::text, c.tsv @@ to_tsquery('swedish', 'barn') "
                "FROM info_blobs b JOIN chunks c ON c.info_blob_id = b.id"))}
            assert rows == {"sv": ("swedish", True), "en": ("simple", False), "other": ("simple", False)}
            # The GIN index still answers a full-text match.
            conn.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(r[0] for r in conn.execute(text(
                "EXPLAIN SELECT id FROM chunks WHERE tsv @@ to_tsquery('swedish', 'barn')")))
            assert "ix_chunks_tsv" in plan, plan
        _alembic(scratch_url, "downgrade", "0024")
        with engine.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM information_schema.columns WHERE table_name = "
                                     "'info_blobs' AND column_name = 'language'")).scalar_one() == 0
            # Back to 'simple': the words as written, unstemmed ("barnen" is not "barn").
            assert conn.execute(text("SELECT count(*) FROM chunks WHERE tsv @@ to_tsquery('simple', 'barnen')")
                                ).scalar_one() == 1
            assert conn.execute(text("SELECT count(*) FROM chunks WHERE tsv @@ to_tsquery('simple', 'barn')")
                                ).scalar_one() == 0
        _alembic(scratch_url, "upgrade", "head")
    finally:
        engine.dispose()


def test_0027_marks_existing_collections_on_the_builtin_e5_as_embedded_as_queries(scratch_url: str) -> None:
    """Their chunks were embedded with "query: " (issue 14): ingestion keeps that form for them until they are
    re-embedded. Collections on MiniLM, or on a provider's model of the same name, have one form: `document`."""
    _alembic(scratch_url, "upgrade", "0026")
    engine = create_engine(scratch_url)
    models = {"e5": ("multilingual-e5-small", None), "minilm": ("all-MiniLM-L6-v2", None),
              "provider-e5": ("multilingual-e5-small", uuid.uuid4())}
    groups = {name: uuid.uuid4() for name in models}
    try:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL session_replication_role = replica"))  # rows without their parents
            for key, (name, provider) in models.items():
                model_id = uuid.uuid4()
                conn.execute(text(
                    "INSERT INTO embedding_models (id, created_at, updated_at, tenant_id, provider_id, name, "
                    "dimensions, max_input_tokens, enabled, is_default, managed) VALUES (:id, now(), now(), "
                    "gen_random_uuid(), :p, :name, 384, 512, true, false, :managed)"),
                    {"id": model_id, "p": provider, "name": name, "managed": provider is None})
                conn.execute(text(
                    "INSERT INTO groups (id, created_at, updated_at, tenant_id, space_id, name, description, "
                    "embedding_model_id) VALUES (:id, now(), now(), gen_random_uuid(), gen_random_uuid(), 'g', '', "
                    ":m)"), {"id": groups[key], "m": model_id})
        _alembic(scratch_url, "upgrade", "0027")
        with engine.begin() as conn:
            found = {r[0]: r[1] for r in conn.execute(text("SELECT id, document_purpose FROM groups"))}
            assert found == {groups["e5"]: "query", groups["minilm"]: "document", groups["provider-e5"]: "document"}
        _alembic(scratch_url, "downgrade", "0026")
        _alembic(scratch_url, "upgrade", "head")
    finally:
        engine.dispose()
