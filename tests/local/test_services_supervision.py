"""The embedded Redis and Postgres, killed as a crash would kill them, come back on the same socket with their
data, and the log says so; a start that fails is logged with the reason and tried again.

The log line comes after the server is back: a client may connect while `pg_ctl -w` still polls postmaster.pid
(every 100 ms) before the supervisor logs. So the tests wait for the line rather than look once."""

import contextlib
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
        with contextlib.suppress(redis.ConnectionError, psycopg.OperationalError):
            if check():
                return
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
        wait_until(lambda: logged(caplog, "embedded service restarted", "redis"), timeout=10)
    assert client.get("kept") == b"across the crash"
    assert logged(caplog, "embedded service died; restarting it", "redis")
    client.close()


def logged(caplog: pytest.LogCaptureFixture, message: str, dependency: str) -> bool:
    return any((r.getMessage(), getattr(r, "dependency", None)) == (message, dependency) for r in caplog.records)


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
        wait_until(lambda: logged(caplog, "embedded service restarted", "postgres"), timeout=10)
    assert logged(caplog, "embedded service died; restarting it", "postgres")


def test_a_postgres_that_fails_to_start_is_logged_with_the_reason_and_tried_again(
        embedded: tuple[EmbeddedServices, Endpoints], caplog: pytest.LogCaptureFixture) -> None:
    services, endpoints = embedded
    pgdata = services.data_dir / "postgres"
    auto_conf = pgdata / "postgresql.auto.conf"
    saved = auto_conf.read_text()
    auto_conf.write_text(saved + "shared_buffers = 'plenty'\n")  # the next start stops at this setting
    with caplog.at_level(logging.INFO, logger="eneo_local.services"):
        os.kill(int((pgdata / "postmaster.pid").read_text().split()[0]), signal.SIGKILL)
        wait_until(lambda: logged(caplog, "embedded service restart failed; trying again", "postgres"))
        failed = next(r for r in caplog.records if r.getMessage() == "embedded service restart failed; trying again")
        assert "postgresql.auto.conf\" contains errors" in failed.reason, failed.reason  # what Postgres said
        auto_conf.write_text(saved)
        url = endpoints.database_migration_url.replace("postgresql+psycopg://", "postgresql://")

        def back() -> bool:
            with psycopg.connect(url, connect_timeout=2) as conn:
                return conn.execute("SELECT 1").fetchone() == (1,)

        wait_until(back)
        wait_until(lambda: logged(caplog, "embedded service restarted", "postgres"), timeout=10)


def test_stop_does_not_restart_what_it_stops(embedded: tuple[EmbeddedServices, Endpoints],
                                             caplog: pytest.LogCaptureFixture) -> None:
    services, endpoints = embedded
    with caplog.at_level(logging.INFO, logger="eneo_local.services"):
        services.stop()
        time.sleep(0.6)
    assert not [r for r in caplog.records if "died" in r.getMessage()]
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(endpoints.redis_url, retry=None).ping()
