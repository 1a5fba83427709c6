"""DB_POOL: a function that waits minutes between transactions (complete, ws) holds no connection meanwhile.

What the operator notices: with the queue pool a warm instance keeps its server connection open after
a transaction (cheap for request handlers); with DB_POOL=null the connection is gone once the
transaction ends, so hundreds of answers streaming at once do not use up max_connections.
"""

import os
import time
from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from eneo.core.db import UnitOfWork, dispose_engine, get_engine
from eneo.core.settings import get_settings
from eneo_local.services import Endpoints


@pytest.fixture
async def pool_setting(db: Endpoints) -> AsyncIterator[None]:
    """Let a test choose DB_POOL; the process-wide engine is rebuilt before and after."""
    saved = os.environ.get("DB_POOL")
    yield
    if saved is None:
        os.environ.pop("DB_POOL", None)
    else:
        os.environ["DB_POOL"] = saved
    get_settings.cache_clear()
    await dispose_engine()


async def _use(pool: str) -> int:
    """One transaction on a fresh engine built with DB_POOL=pool; returns its server process id."""
    os.environ["DB_POOL"] = pool
    get_settings.cache_clear()
    await dispose_engine()
    async with UnitOfWork() as uow:
        pid = (await uow.session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    return int(pid)


def _open(db: Endpoints, pid: int, *, settle: float = 0.0) -> bool:
    """Whether server process `pid` is connected (waiting up to `settle` seconds for it to go)."""
    deadline = time.monotonic() + settle
    with psycopg.connect(db.database_migration_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        while True:
            found = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone() == (1,)
            if not found or time.monotonic() >= deadline:
                return found
            time.sleep(0.05)


@pytest.mark.usefixtures("pool_setting")
async def test_a_null_pool_holds_no_connection_between_transactions(db: Endpoints) -> None:
    pid = await _use("queue")
    assert _open(db, pid)  # the queue pool keeps it for the next request
    assert get_engine().pool.checkedout() == 0  # type: ignore[attr-defined]

    pid = await _use("null")
    assert isinstance(get_engine().pool, NullPool)
    assert not _open(db, pid, settle=2.0)  # closed when the transaction ended
    async with UnitOfWork() as uow:  # and the next transaction simply connects again
        assert (await uow.session.execute(text("SELECT 1"))).scalar_one() == 1


def test_db_pool_accepts_queue_or_null_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from eneo.core.settings import Settings

    monkeypatch.delenv("DB_POOL", raising=False)
    assert Settings().db_pool == "queue"
    monkeypatch.setenv("DB_POOL", "none")
    with pytest.raises(ValidationError):
        Settings()
