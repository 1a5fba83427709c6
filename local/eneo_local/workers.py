"""Warm worker processes, one pool per function, as Lambda keeps execution environments.

A pool starts with one warm instance and spawns more on demand, up to ENEO_MAX_CONCURRENCY (default
10, or the function's ReservedConcurrentExecutions if lower); each instance serves one event at a
time. A request that finds every instance busy takes the first one to become free, whether a warm one
finishing or a new one; at most ENEO_MAX_STARTING instances (default: cores - 1) import at once, so a
burst at cold functions does not starve the warm instances of CPU. An instance that runs past the
function's Timeout is killed and replaced; one whose handler raises stays warm (Lambda's Python
runtime keeps it too); one whose process dies is replaced. Idle extra instances are stopped after
ENEO_IDLE_SECONDS, as Lambda reclaims idle environments.

The parent never blocks on a worker: it waits for the worker's pipe to become readable through the
event loop, so the gateway keeps serving while functions run.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import multiprocessing
import os
import sys
import time
import types
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any, Literal

from eneo_local import runtime
from eneo_local.template import FunctionSpec, StackTemplate

log = logging.getLogger("eneo_local.workers")

# What a worker inherits from the shell: enough to run Python, nothing that would let a function
# work locally only because the developer's shell happened to set something (declare it in the
# template instead). ENEO_WORKER_ENV_PASSTHROUGH=NAME,NAME adds more.
_PASSTHROUGH = {"PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "VIRTUAL_ENV", "SSL_CERT_FILE",
                "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "HF_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"}

Status = Literal["ok", "error", "timeout", "crash", "init_error", "too_large"]
# A streamed answer holds a `complete` and a `ws` instance for its whole length (as on Lambda), so this
# is also how many people can watch answers stream at once before the next one waits its turn.
DEFAULT_MAX_CONCURRENCY = 10
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # Lambda's limit on a synchronous invoke's event and its result


@dataclass
class Invocation:
    """The outcome of one invoke, as the caller (gateway, event source) needs it."""

    status: Status
    result: Any = None  # the handler's return value (decoded JSON) when status == "ok"
    error: dict[str, Any] | None = None  # errorType/errorMessage/stackTrace otherwise
    duration_ms: float = 0.0
    cold_start: bool = False


class WorkerInitError(RuntimeError):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('errorType')}: {error.get('errorMessage')}")
        self.error = error


def function_environment(spec: FunctionSpec, region: str, account_id: str,
                         base_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a function's process: basics, AWS credentials, the template's variables,
    then the variables Lambda itself sets (which a template cannot override)."""
    extra = {n.strip() for n in os.environ.get("ENEO_WORKER_ENV_PASSTHROUGH", "").split(",") if n.strip()}
    env = {k: v for k, v in os.environ.items() if k in _PASSTHROUGH or k in extra or k.startswith("PYTHON")}
    env |= dict(base_env or {})
    env |= spec.environment
    env |= {
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_LAMBDA_FUNCTION_NAME": spec.name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[$LATEST]{uuid.uuid4().hex}",
        "LAMBDA_TASK_ROOT": str(spec.code_uri),
        "_HANDLER": spec.handler,
        "TZ": ":UTC",
    }
    return env


@contextlib.contextmanager
def _main_module_hidden() -> Iterator[None]:
    """Spawned children first re-import the parent's __main__ (the CLI, a test runner, a bench
    script); a Lambda environment holds none of that, so hide it while the child is prepared."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


class Worker:
    """One warm process of one function."""

    def __init__(self, spec: FunctionSpec, env: dict[str, str], arn: str) -> None:
        self.spec = spec
        self.arn = arn
        self._env = env
        self._conn: Connection | None = None
        self._process: Any = None  # multiprocessing.context.SpawnProcess
        self.last_used = time.monotonic()
        self.fresh = False  # started for a waiting request and not used yet: its first invoke is a cold start

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.is_alive()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def start(self, time_limit: float) -> float:
        """Spawn the process and wait for its init phase; returns the init time in ms."""
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._process = ctx.Process(
            target=runtime.main, args=(child, str(self.spec.code_uri), self.spec.handler, self._env),
            name=f"eneo-fn-{self.spec.name}", daemon=False)
        with _main_module_hidden():
            self._process.start()
        child.close()  # so that the worker's death reads as EOF here
        self._conn = parent
        try:
            message = await self._recv(time_limit)
        except asyncio.CancelledError:
            self._kill_now()
            raise
        except TimeoutError:
            await self.kill()
            raise WorkerInitError({"errorType": "Runtime.InitTimeout",
                                   "errorMessage": f"init took longer than {time_limit:.0f}s",
                                   "stackTrace": []}) from None
        except (EOFError, OSError):
            await self.kill()
            raise WorkerInitError({"errorType": "Runtime.ExitError",
                                   "errorMessage": "the worker exited during init", "stackTrace": []}) from None
        if message[0] != "ready":
            await self.kill()
            raise WorkerInitError(message[1])
        return float(message[1])

    async def _recv(self, time_limit: float) -> runtime.Message:
        assert self._conn is not None
        conn, loop = self._conn, asyncio.get_running_loop()
        if not conn.poll():
            readable = loop.create_future()
            fd = conn.fileno()
            loop.add_reader(fd, lambda: None if readable.done() else readable.set_result(None))
            try:
                await asyncio.wait_for(readable, time_limit)
            finally:
                loop.remove_reader(fd)
        message: runtime.Message = conn.recv()
        return message

    async def invoke(self, event_json: bytes, request_id: str, time_limit: float) -> Invocation:
        """Run one event; a worker that times out or dies is killed (check `alive` afterwards)."""
        assert self._conn is not None
        t0 = time.perf_counter()
        deadline_ms = int(time.time() * 1000 + time_limit * 1000)
        try:
            self._conn.send(("invoke", request_id, event_json, deadline_ms, self.arn))
            message = await self._recv(time_limit)
        except TimeoutError:
            await self.kill()
            return Invocation("timeout", error={
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"Task timed out after {time_limit:.2f} seconds", "stackTrace": []},
                duration_ms=(time.perf_counter() - t0) * 1000)
        except (EOFError, OSError):
            code = None
            process = self._process
            with contextlib.suppress(ValueError):  # closed meanwhile by a stop of the whole pool
                if process is not None:
                    await asyncio.to_thread(process.join, 1)
                    code = process.exitcode
            await self.kill()
            return Invocation("crash", error={
                "errorType": "Runtime.ExitError",
                "errorMessage": f"the worker process exited (exit code {code}) during the invoke",
                "stackTrace": []}, duration_ms=(time.perf_counter() - t0) * 1000)
        finally:
            self.last_used = time.monotonic()
        duration = (time.perf_counter() - t0) * 1000
        if message[0] == "result":
            if len(message[2]) > MAX_PAYLOAD_BYTES:
                return Invocation("error", error={
                    "errorType": "Function.ResponseSizeTooLarge",
                    "errorMessage": f"Response payload size ({len(message[2])} bytes) exceeded maximum allowed "
                                    f"payload size ({MAX_PAYLOAD_BYTES} bytes).", "stackTrace": []},
                    duration_ms=duration)
            return Invocation("ok", result=json.loads(message[2]), duration_ms=duration)
        return Invocation("error", error=message[2], duration_ms=duration)

    async def stop(self, grace: float = 3.0) -> int | None:
        """Ask the worker to exit; kill it if it does not within `grace` seconds. The exit code it ended
        with by itself (0: at once, see runtime._exit_now), None if it had to be killed or was not running."""
        code = None
        if self._conn is not None and self.alive:
            with contextlib.suppress(OSError):
                self._conn.send(("stop",))
            await asyncio.to_thread(self._process.join, grace)
            code = self._process.exitcode
        await self.kill()
        return code

    def _kill_now(self) -> None:
        """Without awaiting: for a task being cancelled (the process is reaped at exit)."""
        if self._process is not None and self._process.is_alive():
            self._process.kill()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def kill(self) -> None:
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            await asyncio.to_thread(self._process.join, 5)
            with contextlib.suppress(ValueError):
                self._process.close()
            self._process = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None


@dataclass
class FunctionPool:
    """The warm instances of one function.

    A request that finds no idle instance waits in line and takes whichever instance is free first: a warm
    one finishing its event, or one started for the line. Instances are started only for requests still
    waiting, and at most `starts` at a time across all pools (ENEO_MAX_STARTING): on a small machine, a
    burst that started ten instances at once would have each import for many seconds on a shared core,
    while the warm instance could have served the burst in the meantime.
    """

    spec: FunctionSpec
    env: dict[str, str]
    arn: str
    max_instances: int = 4
    init_timeout: float = 120.0
    starts: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(default_max_starting()))
    _idle: list[Worker] = field(default_factory=list)
    _busy: set[Worker] = field(default_factory=set)
    _count: int = 0  # instances running or starting
    _starting: int = 0  # of which started for the line: waiting for a start slot or in their init
    _initialising: int = 0  # of which past the start slot, in their init
    _waiters: collections.deque[asyncio.Future[Worker]] = field(default_factory=collections.deque)
    _background: set[asyncio.Task[Any]] = field(default_factory=set)
    closed: bool = False
    min_warm: int = 1  # instances the reaper keeps (keep_warm)

    @property
    def size(self) -> int:
        return self._count

    async def warm(self) -> bool:
        """Start one instance if none runs; False (and the error logged) if its init failed."""
        if self._count or self.closed:
            return True
        self._count += 1
        try:
            worker = await self._start_instance()
        except WorkerInitError:
            self._count -= 1
            self._grow()
            return False
        except BaseException:
            self._count -= 1
            raise
        self._offer(worker)
        return True

    def keep_warm(self, instances: int) -> None:
        """Keep `instances` instances warm: the missing ones start now, in the background (one start slot
        at a time, as any start), and the reaper never stops them. For a function fed by SQS pollers: one
        instance per poller, or a burst of messages waits on one instance while the second one imports
        (and takes a core from the first): bench/ingestion.py measured the second embed instance ready
        after the burst it was started for. Call it on the event loop's thread."""
        self.min_warm = max(instances, 1)
        for _ in range(self.min_warm - self._count):
            self._count += 1
            self._in_background(self._start_spare())

    async def _start_spare(self) -> None:
        try:
            async with self.starts:
                if self.closed:
                    self._count -= 1
                    return
                worker = await self._start_instance()
        except WorkerInitError:
            self._count -= 1
            return
        except BaseException:
            self._count -= 1
            raise
        self._offer(worker)

    async def invoke(self, event: Any, request_id: str | None = None) -> Invocation:
        """Run one event (any JSON value, as Lambda takes) on a warm instance, or a new one."""
        request_id = request_id or str(uuid.uuid4())
        event_json = json.dumps(event).encode()
        if len(event_json) > MAX_PAYLOAD_BYTES:
            return Invocation("too_large", error={
                "errorType": "RequestEntityTooLargeException",
                "errorMessage": f"Request must be smaller than {MAX_PAYLOAD_BYTES} bytes for the InvokeFunction "
                                "operation", "stackTrace": []})
        try:
            worker = await self._acquire()
        except WorkerInitError as exc:  # Lambda answers the invoke with the init error
            return Invocation("init_error", error=exc.error, cold_start=True)
        cold, worker.fresh = worker.fresh, False
        reusable = False
        try:
            outcome = await worker.invoke(event_json, request_id, float(self.spec.timeout))
            outcome.cold_start = cold
            reusable = worker.alive
            return outcome
        finally:
            await self._release(worker, reusable)
            if not reusable and not self.closed:
                self._spawn_replacement()

    async def _acquire(self) -> Worker:
        """An idle instance, else the first one freed or started for the line (WorkerInitError if the start
        made for this request failed)."""
        if self.closed:
            raise RuntimeError(f"{self.spec.logical_id}: the pool is closed")
        if self._idle:
            worker = self._idle.pop()  # most recently used: warmest caches
            self._busy.add(worker)
            return worker
        waiter: asyncio.Future[Worker] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._grow()
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._busy.discard(waiter.result())  # handed over as the caller went away: pass it on
                self._offer(waiter.result())
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def _grow(self) -> None:
        """Start instances for waiting requests that no start serves yet, within the function's limit."""
        while not self.closed and self._starting < len(self._waiters) and self._count < self.max_instances:
            self._count += 1
            self._starting += 1
            self._in_background(self._start_for_line())

    async def _start_for_line(self) -> None:
        try:
            async with self.starts:
                if self.closed or len(self._waiters) <= self._initialising:
                    self._count -= 1  # the line was served meanwhile by instances that became free
                    return
                self._initialising += 1
                try:
                    worker = await self._start_instance()
                finally:
                    self._initialising -= 1
        except WorkerInitError as exc:
            self._count -= 1
            if waiter := self._next_waiter():
                waiter.set_exception(exc)
            return
        except BaseException:
            self._count -= 1
            raise
        finally:
            self._starting -= 1
        worker.fresh = True
        self._offer(worker)

    async def _start_instance(self) -> Worker:
        worker = Worker(self.spec, self.env, self.arn)
        try:
            init_ms = await worker.start(self.init_timeout)
        except WorkerInitError as exc:
            log.error("function init failed", extra={
                "function": self.spec.logical_id, "error_type": exc.error.get("errorType"),
                "error": exc.error.get("errorMessage")})
            raise
        log.info("function instance started", extra={
            "function": self.spec.logical_id, "pid": worker.pid, "init_ms": round(init_ms, 1),
            "instances": self._count})
        return worker

    def _next_waiter(self) -> asyncio.Future[Worker] | None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                return waiter
        return None

    def _offer(self, worker: Worker) -> None:
        """A free instance: to the first waiting request, else idle."""
        if self.closed:
            self._count -= 1
            self._in_background(worker.stop())
        elif waiter := self._next_waiter():
            self._busy.add(worker)
            waiter.set_result(worker)
        else:
            self._idle.append(worker)

    async def _release(self, worker: Worker, reusable: bool) -> None:
        self._busy.discard(worker)
        if reusable and not self.closed:
            self._offer(worker)
            return
        self._count -= 1
        self._grow()  # room for an instance the line may need
        await worker.kill()

    def _spawn_replacement(self) -> None:
        self._in_background(self.warm())

    def _in_background(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def reap_idle(self, idle_seconds: float) -> None:
        """Stop instances idle for more than `idle_seconds`, keeping `min_warm` (at least one) warm."""
        now = time.monotonic()
        stale = [w for w in self._idle if now - w.last_used > idle_seconds]
        stale = stale[:max(self._count - self.min_warm, 0)]  # the most recently used stay
        for worker in stale:
            self._idle.remove(worker)
        self._count -= len(stale)
        for worker in stale:
            await worker.stop()

    async def close(self) -> None:
        self.closed = True
        idle, self._idle = self._idle, []
        self._count -= len(idle)
        busy = list(self._busy)  # their invokes end as crashes and release themselves
        while waiter := self._next_waiter():
            waiter.set_exception(RuntimeError(f"{self.spec.logical_id}: the pool is closed"))
        background = list(self._background)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await asyncio.gather(*(w.stop() for w in idle), *(w.kill() for w in busy))


def default_max_starting() -> int:
    """How many instances may import at once, across all functions (ENEO_MAX_STARTING): one core's worth
    less than the machine has, so that the warm instances keep a core to serve while others start."""
    configured = os.environ.get("ENEO_MAX_STARTING")
    return max(int(configured) if configured else (os.cpu_count() or 2) - 1, 1)


class FunctionHost:
    """Every function of a template, each in its own pool of warm worker processes."""

    def __init__(self, template: StackTemplate, base_env: Mapping[str, str] | None = None, *,
                 max_concurrency: int | None = None, init_timeout: float | None = None,
                 idle_seconds: float | None = None) -> None:
        self.template = template
        limit = max_concurrency or int(os.environ.get("ENEO_MAX_CONCURRENCY", str(DEFAULT_MAX_CONCURRENCY)))
        self.idle_seconds = idle_seconds or float(os.environ.get("ENEO_IDLE_SECONDS", "300"))
        init_timeout = init_timeout or float(os.environ.get("ENEO_INIT_TIMEOUT", "120"))
        self.pools: dict[str, FunctionPool] = {}
        starts = asyncio.Semaphore(default_max_starting())  # one machine: one limit for every function
        for logical_id, spec in template.functions.items():
            arn = f"arn:aws:lambda:{template.region}:{template.account_id}:function:{spec.name}"
            env = function_environment(spec, template.region, template.account_id, base_env)
            cap = min(limit, spec.reserved_concurrency) if spec.reserved_concurrency else limit
            self.pools[logical_id] = FunctionPool(spec, env, arn, max(cap, 1), init_timeout, starts)
        self._reaper: asyncio.Task[None] | None = None

    async def start(self, prewarm: bool = True) -> dict[str, bool]:
        """Warm one instance per function (concurrently); maps each function to whether it started."""
        started = {name: True for name in self.pools}
        if prewarm:
            results = await asyncio.gather(*(pool.warm() for pool in self.pools.values()))
            started = dict(zip(self.pools, results, strict=True))
        self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())
        return started

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(min(self.idle_seconds, 30))
            for pool in self.pools.values():
                await pool.reap_idle(self.idle_seconds)

    async def invoke(self, function: str, event: Any, request_id: str | None = None) -> Invocation:
        return await self.pools[function].invoke(event, request_id)

    async def close(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        await asyncio.gather(*(pool.close() for pool in self.pools.values()))
