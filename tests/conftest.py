"""Shared fixtures: the embedded services, started once per test session when a test needs them."""

import logging
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from eneo_local.services import EmbeddedServices, Endpoints, migrate

TEST_SECRETS = {
    "JWT_SECRET": "test-jwt-secret-0123456789abcdef0123456789",
    "SUPER_API_KEY": "test-super-key-0123456789abcdef0123456789",
    "ENCRYPTION_KEY": "test-encryption-key-0123456789abcdef0123",
    "LOG_LEVEL": "WARNING",
}

# The fake model servers listen on 127.0.0.1, which the outbound rule refuses (eneo.core.outbound): the tests'
# deployment allows it, as an operator would allow a self-hosted server. The e2e stack inherits it.
os.environ.setdefault("OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")


# pgserver says goodbye at interpreter exit; keep that out of the test run's last lines.
logging.getLogger("pgserver").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def services() -> Iterator[Endpoints]:
    """Real Postgres+pgvector, Redis and moto, migrated, with the process env pointing at them."""
    from eneo.core.settings import get_settings

    data = Path(tempfile.mkdtemp(prefix="eneo-test-"))
    embedded = EmbeddedServices(data)
    endpoints = embedded.start()
    migrate(endpoints.database_migration_url)
    saved = dict(os.environ)
    os.environ.update({**endpoints.as_env(), **TEST_SECRETS})
    get_settings.cache_clear()
    try:
        yield endpoints
    finally:
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()
        embedded.stop()


@pytest.fixture(scope="session")
async def db(services: Endpoints) -> AsyncIterator[Endpoints]:
    """The services, with the process-wide engine and Redis client closed at the end."""
    from eneo.core.db import dispose_engine
    from eneo.core.redis import close_redis

    yield services
    await dispose_engine()
    await close_redis()
