"""A scratch database for the benchmarks that need only Postgres: the embedded one (pgserver) in a temporary
folder, migrated, with DATABASE_URL and DATABASE_MIGRATION_URL pointing at it while the block runs."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scratch_database(prefix: str, *, keep: bool = False, reuse_env: bool = False) -> Iterator[str]:
    """The migration (owner) URL of a fresh, migrated database. `reuse_env`: a DATABASE_URL already set is
    used instead (migrated as DATABASE_MIGRATION_URL, else as itself). `keep`: the folder stays, and is named."""
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    from eneo.core.settings import get_settings
    from eneo_local.services import EmbeddedServices, migrate

    data = Path(tempfile.mkdtemp(prefix=prefix))
    services = EmbeddedServices(data)
    try:
        if not (reuse_env and os.environ.get("DATABASE_URL")):
            db, owner = services._postgres()
            os.environ.update({"DATABASE_URL": db, "DATABASE_MIGRATION_URL": owner})
        owner = os.environ.get("DATABASE_MIGRATION_URL") or os.environ["DATABASE_URL"]
        migrate(owner)
        get_settings.cache_clear()
        yield owner
    finally:
        services.stop()
        if keep:
            print(f"scratch database kept in {data}")
        else:
            shutil.rmtree(data, ignore_errors=True)
