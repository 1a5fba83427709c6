"""The hand-written migration and the ORM models describe the same schema."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

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
