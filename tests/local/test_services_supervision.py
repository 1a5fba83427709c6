"""The embedded Redis and Postgres, killed as a crash would kill them, come back on the same socket with their
data, and the log says so."""

import logging
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from eneo_local.services import EmbeddedServices, Endpoints


@pytest.fixture
def embedded(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[EmbeddedServices, Endpoints]]:
    # Not under pytest's tmp_path: Postgres runs as another user, and pytest keeps its folders private to root.
    data = Path(tempfile.mkdtemp(prefix="eneo-supervision-"))
    for name in ("DATABASE_URL", "DATABASE_MIGRATION_URL", "REDIS_URL"):  # start our own, whatever the session set
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("S3_ENDPOINT_URL", "http://127.0.0.1:9")  # no moto: not supervised, not needed here
    services = EmbeddedServices(data, restart_delay=0.2)
    try:
        yield services, services.start()
    finally:
        services.stop()
        shutil.rmtree(data, ignore_errors=True)


def wait_until(check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (redis.ConnectionError, psycopg.OperationalError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError("not back in time")
        time.sleep(0.1)


def test_a_killed_redis_comes_back_with_its_data(embedded: tuple[EmbeddedServices, Endpoints],
                                                 caplog: pytest.LogCaptureFixture) -> None:
    _, endpoints = embedded
    client = redis.Redis.from_url(endpoints.redis_url)
    client.set("kept", "across the crash")
    time.sleep(0.2)  # into the append-only file
    pid = int(client.info()["process_id"])
    with caplog.at_level(logging.INFO, logger="eneo_local.services"):
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: client.ping() and int(client.info()["process_id"]) != pid)
    assert client.get("kept") == b"across the crash"
    messages = [(r.getMessage(), getattr(r, "dependency", None)) for r in caplog.records]
    assert ("embedded service died; restarting it", "redis") in messages
    assert ("embedded service restarted", "redis") in messages
    client.close()


@pytest.mark.xfail(reason="the Postgres restart did not come back in a fresh-clone CI run (issue 9 note)",
                   strict=False)
def test_a_killed_postgres_comes_back_with_its_data(embedded: tuple[EmbeddedServices, Endpoints],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    services, endpoints = embedded
    url = endpoints.database_migration_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (v text)")
        conn.execute("INSERT INTO kept VALUES ('across the crash')")
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    postmaster = int((services.data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
    assert postmaster != pid
    with caplog.at_level(logging.INFO, logger="eneo_local.services"):
        os.kill(postmaster, signal.SIGKILL)

        def back() -> bool:
            with psycopg.connect(url, connect_timeout=2) as conn:
                return conn.execute("SELECT v FROM kept").fetchone() == ("across the crash",)

        wait_until(back)
    messages = [(r.getMessage(), getattr(r, "dependency", None)) for r in caplog.records]
    assert ("embedded service died; restarting it", "postgres") in messages
    assert ("embedded service restarted", "postgres") in messages


def test_stop_does_not_restart_what_it_stops(embedded: tuple[EmbeddedServices, Endpoints],
                                             caplog: pytest.LogCaptureFixture) -> None:
    services, endpoints = embedded
    with caplog.at_level(logging.INFO, logger="eneo_local.services"):
        services.stop()
        time.sleep(0.6)
    assert not [r for r in caplog.records if "died" in r.getMessage()]
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(endpoints.redis_url, retry=None).ping()
