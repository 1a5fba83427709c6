"""Streamed answers: latency and loss through complete → Redis → ws → client, against the provider streamed directly.

The fake provider (tests/fakes/llm_server.py, real OpenAI wire format) runs in its own process and
records when each token's frame left (`time.monotonic()`; CLOCK_MONOTONIC is system-wide on Linux,
so this process's clock compares). This process is the client of both paths:

* direct:   the openai SDK (AsyncOpenAI, stream=True) streams the answer from the fake (the baseline)
* platform: POST …/sessions/ {"stream": true} → sessions → async invoke → complete → fake; complete
            XADDs batched deltas to Redis, ws relays them to a WebSocket the client opened beforehand

Both ask for the same answer: `--tokens` tokens "tok0 ", "tok1 ", ... `--delay-ms` apart. Measured:
time to first token (from the request to the first text at the client) and, per token, the client's
receive time minus the fake's send time (tokens arrive in batches: each received character range is
mapped back to the tokens it completes). Reported as p50/p99 for each path, the platform's added
latency (platform - direct) and the ratio platform/direct. Then `--sessions` answers at once, in
both paths: tokens lost and duplicated (expected text vs received; must be 0) and the latencies.
Each platform phase also counts its Redis writes (XADD calls, from Redis's INFO commandstats) per answer.

Both parts run twice: on a stack with the default batching (adaptive: a delta is written at once when no
write of its stream is in flight, eneo.answers.batching) and on the baseline, a stack started with
ANSWER_STREAM_BATCH_MS=20 (the fixed 20 ms interval that was the default before). The summary prints the
targets: added per-token delay at one stream under 3 ms p50 and 5 ms p99, and Redis writes at
`--sessions` streams within 1.5x the baseline's (`--no-baseline` skips the baseline stack).

Every phase first starts as many warm instances of sessions, complete and ws as it has sessions
and runs a round it does not count (connections, caches); in each round the direct answers run,
then the platform's, so that drift in the machine's load hits both alike. The stack runs as
`eneo-local up` with ENEO_MAX_CONCURRENCY = sessions + 10, ENEO_LOCAL_MODEL=off and, for the
concurrent phase, Postgres's max_connections raised (every warm instance keeps its pooled connection:
3 x 50 instances need more than the default 100); it is stopped with SIGINT, and the fake with it,
even when the benchmark fails. It also prints where the CPU went while the platform streamed.
Exit code 1 if a token was lost or duplicated, or a session failed.

Run:  .venv/bin/python bench/streaming_latency.py [--tokens 100] [--delay-ms 10] [--sessions 50]
      [--rounds 20] [--concurrent-rounds 2] [--no-baseline] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
from openai import AsyncOpenAI
from redis import Redis
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.fakes, for the fake's process; bench.localstack

from bench.localstack import Stack, local_stack, new_admin, post  # noqa: E402
from eneo.realtime.sigv4 import sign  # noqa: E402

PROVIDER_KEY = "bench-provider-key-0123456789"
MODEL = "fake-model"
SYSTEM = "Svara."
RECV_TIMEOUT = 60.0
# Redis stamps each entry id with its wall clock (ms); this converts such a time to this machine's monotonic one.
WALL_MINUS_MONOTONIC = time.time() - time.monotonic()


# --- the fake provider, in its own process -----------------------------------------------------

def _serve_fake(conn: Connection, token_count: int, delay: float) -> None:
    """Child process: serve the fake; on "sent", answer {question: token send times} and forget them."""
    from tests.fakes import llm_wire as wire
    from tests.fakes.llm_server import FakeLLMServer

    with FakeLLMServer(api_key=PROVIDER_KEY, token_count=token_count, delay=delay) as fake:
        conn.send(fake.port)
        while (command := conn.recv()) != "stop":
            if command == "sent":
                sent = {wire.text_of(wire.last_user(r.body)): r.sent for r in fake.requests
                        if isinstance(r.body, dict) and r.body.get("stream")}
                fake.reset()
                conn.send(sent)


class FakeProcess:
    """The fake provider in a spawned process (its own GIL: it must not slow this client down)."""

    def __init__(self, token_count: int, delay: float) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve_fake, args=(child, token_count, delay), name="fake-llm",
                                   daemon=True)
        self.process.start()
        if not self.conn.poll(30):
            self.stop()
            raise SystemExit("the fake provider did not start")
        self.url = f"http://127.0.0.1:{self.conn.recv()}/v1"

    def sent(self) -> dict[str, list[float]]:
        """Token send times of every stream since the last call, by question."""
        self.conn.send("sent")
        result: dict[str, list[float]] = self.conn.recv()
        return result

    def stop(self) -> None:
        if self.process.is_alive():
            with suppress(OSError):
                self.conn.send("stop")
            self.process.join(10)
            if self.process.is_alive():
                self.process.terminate()
                self.process.join(5)


@dataclass
class Org:
    token: str
    sessions_path: str


def make_org(stack: Stack, fake_url: str) -> Org:
    """A tenant and its admin, the fake as provider and model, a published assistant."""
    with httpx.Client(base_url=stack.url, timeout=60) as http:
        admin = new_admin(http)
        token = admin["Authorization"].removeprefix("Bearer ")
        provider = post(http, "/api/v1/admin/model-providers/", admin, json={
            "name": "Fake", "type": "openai_compatible", "base_url": fake_url, "api_key": PROVIDER_KEY})["id"]
        post(http, "/api/v1/completion-models/", admin, json={
            "provider_id": provider, "name": MODEL, "context_window": 8192, "is_default": True})
        space = post(http, "/api/v1/spaces/", admin, json={"name": "Bench"})["id"]
        assistant = post(http, f"/api/v1/spaces/{space}/applications/assistants/", admin, json={
            "name": "Bench", "system_prompt": SYSTEM, "published": True})["id"]
    return Org(token, f"/api/v1/assistants/{assistant}/sessions/")


def _health_event(path: str) -> dict[str, Any]:
    """A minimal HTTP API (payload 2.0) event for `GET path`."""
    http = {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"}
    return {"version": "2.0", "routeKey": f"GET {path}", "rawPath": path, "rawQueryString": "", "headers": {},
            "isBase64Encoded": False, "requestContext": {
                "accountId": "000000000000", "apiId": "bench", "domainName": "127.0.0.1", "domainPrefix": "127",
                "http": http, "requestId": "bench-prewarm", "routeKey": f"GET {path}", "stage": "$default",
                "time": "01/Jan/2025:00:00:00 +0000", "timeEpoch": 1735689600000}}


async def prewarm(stack: Stack, instances: int) -> None:
    """`instances` warm instances of sessions, complete and ws, as a steady load would leave them.

    A pool starts an instance for each invoke that finds none idle, so `instances` invokes at once
    leave that many. They go through the Lambda Invoke API (the gateway would give up on a start
    slower than 30 s), one function after the other, with events each function answers at once:
    a health check, a question that does not exist, a `$disconnect` of an unknown connection.
    """
    url = f"{stack.endpoints['lambda_endpoint_url']}/2015-03-31/functions/{{}}/invocations"
    events = {
        "SessionsFunction": _health_event("/api/v1/health/sessions"),
        "CompleteFunction": {"tenant_id": str(uuid.uuid4()), "question_id": str(uuid.uuid4())},
        "WsFunction": {"requestContext": {"routeKey": "$disconnect", "connectionId": "bench-prewarm",
                                          "eventType": "DISCONNECT"}},
    }
    limits = httpx.Limits(max_connections=instances + 10)
    secret = json.loads((stack.log.parent / "data" / "secrets.json").read_text())["aws_secret_access_key"]
    async with httpx.AsyncClient(timeout=300, limits=limits) as http:
        for function, event in events.items():
            name = stack.endpoints["functions"][function]
            body = json.dumps(event).encode()
            headers = sign("POST", url.format(name), body, access_key="local", secret_key=secret, token=None,
                           region=stack.endpoints["region"], service="lambda")  # the stack checks SigV4, as AWS does
            for r in await asyncio.gather(*(http.post(url.format(name), content=body, headers=headers)
                                            for _ in range(instances))):
                result = r.json() if r.status_code == 200 else None
                if "x-amz-function-error" in r.headers or not isinstance(result, dict) or \
                        result.get("statusCode", 200) != 200:
                    raise SystemExit(f"prewarming {function} answered {r.status_code}: {r.text[:300]}")


# --- where the CPU goes ------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_STARTED = re.compile(r'"function instance started", "function": "(\w+)", "pid": (\d+)')


def _processes() -> dict[int, tuple[int, str, float]]:
    """Every process: pid -> (parent pid, name, CPU seconds so far), from /proc (Linux)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            name, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
            found[int(entry.name)] = (int(rest[1]), name, (int(rest[11]) + int(rest[12])) / _TICK)
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class CpuMeter:
    """CPU seconds per part of the system while it is running (between start() and stop())."""

    def __init__(self, stack: Stack, fake: FakeProcess) -> None:
        self.stack, self.fake = stack, fake
        self.seconds: dict[str, float] = {}
        self.wall = 0.0
        self._mark: tuple[float, dict[int, tuple[str, float]]] | None = None

    def _sample(self) -> dict[int, tuple[str, float]]:
        procs = _processes()
        functions = {int(pid): name.removesuffix("Function")
                     for name, pid in _STARTED.findall(self.stack.log.read_text(errors="replace"))}
        root = int(self.stack.endpoints["pid"])
        labels = {root: "eneo-local (gateways)", os.getpid(): "client (this process)", self.fake.process.pid: "fake"}
        pidfile = self.stack.log.parent / "data" / "postgres" / "postmaster.pid"
        postmaster = int(pidfile.read_text().split()[0]) if pidfile.exists() else -1
        socket = self.stack.endpoints.get("redis_url", "").removeprefix("unix://") or "-"
        tree = {root, postmaster}
        for _ in range(4):  # workers, services and their children
            tree |= {pid for pid, (ppid, _, _) in procs.items() if ppid in tree}
        out = {}
        for pid, (_, name, cpu) in procs.items():
            if name.startswith("redis") and socket in _cmdline(pid):
                out[pid] = ("redis", cpu)  # daemonized: not below the stack's process
            elif pid in labels or pid in tree:
                label = labels.get(pid) or functions.get(pid) or ("postgres" if name.startswith("postgres")
                                                                  else "other")
                out[pid] = (label, cpu)
        return out

    def start(self) -> None:
        self._mark = (time.monotonic(), self._sample())

    def stop(self) -> None:
        assert self._mark is not None
        started, before = self._mark
        for pid, (label, cpu) in self._sample().items():
            self.seconds[label] = self.seconds.get(label, 0.0) + cpu - (before[pid][1] if pid in before else 0.0)
        self.wall += time.monotonic() - started
        self._mark = None

    def summary(self) -> str:
        total = sum(self.seconds.values())
        ranked = sorted(self.seconds.items(), key=lambda item: -item[1])
        parts = ", ".join(f"{label} {sec / self.wall:.2f}" for label, sec in ranked if sec > 0)
        return f"{total / self.wall:.2f} of {os.cpu_count()} cores busy: {parts}"


class RedisWrites:
    """XADD calls Redis served between start() and stop(): every entry of every answer stream."""

    def __init__(self, stack: Stack) -> None:
        self.redis = Redis.from_url(stack.endpoints["redis_url"])
        self.calls = 0
        self._mark = 0

    def _xadds(self) -> int:
        stats: dict[str, Any] = self.redis.info("commandstats")  # type: ignore[assignment]
        return int(stats.get("cmdstat_xadd", {}).get("calls", 0))

    def start(self) -> None:
        self._mark = self._xadds()

    def stop(self) -> None:
        self.calls += self._xadds() - self._mark


# --- one streamed answer, either way -----------------------------------------------------------

@dataclass
class Run:
    """What the client saw of one answer: when it asked and each piece of text as it arrived."""

    path: str  # "direct" or "platform"
    question: str
    started: float
    pieces: list[tuple[float, str]] = field(default_factory=list)
    written: list[float] = field(default_factory=list)  # platform: when Redis took each piece's entry
    frame_ids: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def text(self) -> str:
        return "".join(piece for _, piece in self.pieces)


async def direct_run(client: AsyncOpenAI, question: str) -> Run:
    run = Run("direct", question, time.monotonic())
    try:
        stream = await client.chat.completions.create(
            model=MODEL, stream=True, stream_options={"include_usage": True},
            messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}])
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                run.pieces.append((time.monotonic(), chunk.choices[0].delta.content))
    except Exception as exc:  # reported as a failed session
        run.error = f"{type(exc).__name__}: {exc}"[:200]
    return run


async def platform_run(http: httpx.AsyncClient, ws: ClientConnection, org: Org, question: str) -> Run:
    run = Run("platform", question, time.monotonic())
    try:
        r = await http.post(org.sessions_path, json={"question": question, "stream": True},
                            headers={"Authorization": f"Bearer {org.token}"})
        if r.status_code != 202:
            run.error = f"ask answered {r.status_code}: {r.text[:150]}"
            return run
        await ws.send(json.dumps({"action": "subscribe", "question_id": r.json()["question"]["id"]}))
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT))
            received = time.monotonic()
            kind = message.get("type")
            if kind == "resubscribe":
                await ws.send(json.dumps({"action": "subscribe", "question_id": message["question_id"],
                                          "last_id": message["last_id"]}))
                continue
            if kind is None:
                continue  # the gateway's own notices
            run.frame_ids.append(str(message.get("id")))
            if kind == "text":
                run.pieces.append((received, message["text"]))
                run.written.append(int(str(message["id"]).split("-")[0]) / 1000 - WALL_MINUS_MONOTONIC)
            elif kind == "error":
                run.error = f"error frame: {message.get('code')}"
                return run
            elif kind == "done":
                return run
    except Exception as exc:  # reported as a failed session
        run.error = f"{type(exc).__name__}: {exc}"[:200]
    return run


# --- what the runs say -------------------------------------------------------------------------

def expected_tokens(count: int) -> list[str]:
    return [f"tok{i} " for i in range(count)]


@dataclass
class Outcome:
    """Latencies (ms) and losses of a set of runs of one path."""

    ttft: list[float] = field(default_factory=list)
    per_token: list[float] = field(default_factory=list)
    to_redis: list[float] = field(default_factory=list)  # per token: entry written - sent (platform)
    sessions: int = 0
    failed: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    pieces: int = 0  # text frames (platform) or chunks (direct) received
    received: int = 0  # tokens received
    errors: list[str] = field(default_factory=list)

    def add(self, run: Run, sent: list[float] | None, tokens: list[str], count_latency: bool) -> None:
        self.sessions += 1
        got, want = Counter(run.text.split()), Counter(t.strip() for t in tokens)
        self.pieces += len(run.pieces)
        self.received += sum(got.values())
        self.lost += sum((want - got).values())
        self.duplicated += sum((got - want).values())
        if len(set(run.frame_ids)) != len(run.frame_ids):
            self.duplicated += len(run.frame_ids) - len(set(run.frame_ids))
        if run.error or sent is None or len(sent) != len(tokens):
            self.failed += 1
            self.errors.append(run.error or f"the fake sent {len(sent or [])} of {len(tokens)} tokens")
            return
        if run.text != "".join(tokens):
            self.reordered += int(got == want)
            return
        if not count_latency:
            return
        self.ttft.append((run.pieces[0][0] - run.started) * 1000)
        ends, total = [], 0
        for token in tokens:
            total += len(token)
            ends.append(total)
        index, received = 0, 0
        for number, (at, piece) in enumerate(run.pieces):
            received += len(piece)
            while index < len(ends) and ends[index] <= received:
                self.per_token.append((at - sent[index]) * 1000)
                if run.written:
                    self.to_redis.append((run.written[number] - sent[index]) * 1000)
                index += 1


def percentiles(samples: list[float]) -> tuple[float, float]:
    if not samples:
        return float("nan"), float("nan")
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


# --- phases ------------------------------------------------------------------------------------

@dataclass
class Phase:
    name: str
    direct: Outcome = field(default_factory=Outcome)
    platform: Outcome = field(default_factory=Outcome)
    cpu: str = ""  # where the CPU went while the platform streamed (counted rounds)
    xadds: int = 0  # Redis writes while the platform streamed (counted rounds)
    answers: int = 0  # platform answers in the counted rounds

    @property
    def writes_per_answer(self) -> float:
        return self.xadds / self.answers if self.answers else float("nan")


async def run_phase(name: str, fake: FakeProcess, stack: Stack, org: Org, *, sessions: int, rounds: int,
                    tokens: list[str]) -> Phase:
    """One uncounted round, then `rounds` counted ones; each round is `sessions` direct answers at
    once, then `sessions` platform answers at once, each on its own already open WebSocket."""
    phase = Phase(name)
    cpu = CpuMeter(stack, fake)
    writes = RedisWrites(stack)
    print(f"{name}: {rounds} rounds after a warm-up ...", file=sys.stderr, flush=True)
    await prewarm(stack, sessions)
    limits = httpx.Limits(max_connections=sessions + 10, max_keepalive_connections=sessions + 10)
    async with AsyncExitStack() as stack_of:
        http = await stack_of.enter_async_context(httpx.AsyncClient(base_url=stack.url, timeout=60, limits=limits))
        client = await stack_of.enter_async_context(AsyncOpenAI(
            base_url=fake.url, api_key=PROVIDER_KEY, max_retries=0, timeout=60))  # up to 100 kept-alive
        sockets = await asyncio.gather(*(
            stack_of.enter_async_context(connect(f"{stack.ws_url}?token={org.token}", open_timeout=30,
                                                 max_size=None))
            for _ in range(sessions)))
        for round_ in range(rounds + 1):
            tag = f"{name} r{round_} {uuid.uuid4().hex[:8]}"
            direct = await asyncio.gather(*(direct_run(client, f"direct {tag} s{i}") for i in range(sessions)))
            if round_:
                cpu.start()
                writes.start()
            platform = await asyncio.gather(*(platform_run(http, ws, org, f"platform {tag} s{i}")
                                              for i, ws in enumerate(sockets)))
            await asyncio.sleep(0.2)  # the last relays and saves finish before the fake is asked
            if round_:
                cpu.stop()
                writes.stop()
                phase.answers += sessions
            sent = fake.sent()
            for run in direct:
                phase.direct.add(run, sent.get(run.question), tokens, count_latency=round_ > 0)
            for run in platform:
                phase.platform.add(run, sent.get(run.question), tokens, count_latency=round_ > 0)
    phase.cpu = cpu.summary() if rounds else ""
    phase.xadds = writes.calls
    writes.redis.close()
    return phase


# --- report ------------------------------------------------------------------------------------

def print_targets(args: argparse.Namespace, phases: dict[str, Phase]) -> None:
    """The adaptive batching's targets, each against the baseline measured in this run."""
    one = phases.get("1 stream")
    if one is not None:
        (d50, d99), (p50, p99) = percentiles(one.direct.per_token), percentiles(one.platform.per_token)
        print(f"target: added per-token delay at one stream < 3 ms p50 and < 5 ms p99: "
              f"{p50 - d50:.1f} ms p50, {p99 - d99:.1f} ms p99")
    many, base = phases.get(f"{args.sessions} streams"), phases.get(f"{args.sessions} streams, fixed 20 ms")
    if many is not None and base is not None:
        print(f"target: Redis writes at {args.sessions} streams within 1.5x the fixed 20 ms batching's: "
              f"{many.writes_per_answer:.1f} vs {base.writes_per_answer:.1f} XADD per answer = "
              f"{many.writes_per_answer / base.writes_per_answer:.2f}x")
    for name in ("1 stream", f"{args.sessions} streams"):
        if name in phases and f"{name}, fixed 20 ms" in phases:
            f50, f99 = percentiles(phases[f"{name}, fixed 20 ms"].platform.per_token)
            a50, a99 = percentiles(phases[name].platform.per_token)
            print(f"per token (recv - sent) at {name}: adaptive {a50:.1f}/{a99:.1f} ms p50/p99, "
                  f"fixed 20 ms {f50:.1f}/{f99:.1f} ms")


def print_report(args: argparse.Namespace, phases: list[Phase]) -> None:
    print(f"Streamed answers: {args.tokens} tokens, {args.delay_ms:g} ms apart; times in ms; "
          "added = platform - direct, ratio = platform / direct")
    header = (f"{'':<34}{'direct p50':>11}{'p99':>8}{'platform p50':>14}{'p99':>8}{'added p50':>11}{'p99':>8}"
              f"{'ratio p50':>11}{'p99':>8}")
    print(header)
    print("-" * len(header))
    for phase in phases:
        for label, d, p in (("time to first token", phase.direct.ttft, phase.platform.ttft),
                            ("per token (recv - sent)", phase.direct.per_token, phase.platform.per_token)):
            (d50, d99), (p50, p99) = percentiles(d), percentiles(p)
            print(f"{phase.name + ': ' + label:<34}{d50:>11.1f}{d99:>8.1f}{p50:>14.1f}{p99:>8.1f}"
                  f"{p50 - d50:>11.1f}{p99 - d99:>8.1f}{p50 / d50:>10.1f}x{p99 / d99:>7.1f}x")
    print()
    print("where a platform token's time goes (ms, p50/p99): sent -> written to Redis (complete, batching; "
          "Redis's clock, 1 ms steps; a frame the relay merged counts from its last entry), written -> received "
          "(ws relay, gateway)")
    for phase in phases:
        w50, w99 = percentiles(phase.platform.to_redis)
        r50, r99 = percentiles([t - w for t, w in zip(phase.platform.per_token, phase.platform.to_redis,
                                                       strict=False)])
        print(f"  {phase.name}: to Redis {w50:.1f}/{w99:.1f}, Redis to client {r50:.1f}/{r99:.1f}")
    print()
    print(f"{'':<34}{'sessions':>9}{'failed':>8}{'lost':>7}{'dup':>6}{'reordered':>11}{'tokens/frame':>14}"
          f"{'XADD/answer':>13}  (incl. warm-up; XADDs: counted rounds)")
    for phase in phases:
        for path, o in (("direct", phase.direct), ("platform", phase.platform)):
            xadds = f"{phase.writes_per_answer:>13.1f}" if path == "platform" else ""
            print(f"{phase.name + ': ' + path:<34}{o.sessions:>9}{o.failed:>8}{o.lost:>7}{o.duplicated:>6}"
                  f"{o.reordered:>11}{o.received / max(o.pieces, 1):>14.2f}{xadds}")
            for error in sorted(set(o.errors))[:5]:
                print(f"    {error}")
    print()
    print("CPU while the platform streamed (counted rounds; cores = CPU seconds / wall seconds):")
    for phase in phases:
        print(f"  {phase.name}: {phase.cpu}")


async def bench(args: argparse.Namespace, work: Path, fake: FakeProcess, tokens: list[str]) -> list[Phase]:
    phases: list[Phase] = []
    stacks = [("", {"ANSWER_STREAM_BATCH_MS": "0"})]
    if not args.no_baseline:
        stacks.append((", fixed 20 ms", {"ANSWER_STREAM_BATCH_MS": "20"}))
    for suffix, batching in stacks:
        caps = str(args.sessions + 10)  # this client is one user with a connection and a subscription per answer
        passed = "ANSWER_STREAM_BATCH_MS,WEBSOCKET_MAX_CONNECTIONS_PER_USER,WEBSOCKET_MAX_SUBSCRIPTIONS_PER_USER"
        env = {"ENEO_MAX_CONCURRENCY": str(args.sessions + 10), "WEBSOCKET_MAX_CONNECTIONS_PER_USER": caps,
               "WEBSOCKET_MAX_SUBSCRIPTIONS_PER_USER": caps, "ENEO_WORKER_ENV_PASSTHROUGH": passed} | batching
        folder = work / (batching["ANSWER_STREAM_BATCH_MS"] + "ms")
        with local_stack(folder, env, max_connections=4 * args.sessions + 60) as stack:
            org = make_org(stack, fake.url)
            for sessions, rounds in ((1, args.rounds), (args.sessions, args.concurrent_rounds)):
                name = f"{sessions} stream{'s' if sessions > 1 else ''}{suffix}"
                phases.append(await run_phase(name, fake, stack, org, sessions=sessions, rounds=rounds, tokens=tokens))
                print(phase_line(phases[-1]), file=sys.stderr, flush=True)  # kept if a later phase fails
    return phases


def phase_line(phase: Phase) -> str:
    (d50, d99), (p50, p99) = percentiles(phase.direct.per_token), percentiles(phase.platform.per_token)
    (t50, t99), (w50, _) = percentiles(phase.platform.ttft), percentiles(phase.platform.to_redis)
    return (f"{phase.name}: per token added {p50 - d50:.1f}/{p99 - d99:.1f} ms p50/p99 (to Redis {w50:.1f} p50), "
            f"first token {t50:.1f}/{t99:.1f} ms, {phase.writes_per_answer:.1f} XADD per answer")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokens", type=int, default=100, help="tokens per answer (100; at most 1000)")
    parser.add_argument("--delay-ms", type=float, default=10.0, help="milliseconds between two tokens (10)")
    parser.add_argument("--sessions", type=int, default=50, help="answers streamed at once (50)")
    parser.add_argument("--rounds", type=int, default=20, help="counted sequential rounds per path (20)")
    parser.add_argument("--concurrent-rounds", type=int, default=2, help="counted rounds of --sessions at once (2)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the baseline stack (ANSWER_STREAM_BATCH_MS=20, the fixed interval)")
    parser.add_argument("--keep", action="store_true", help="keep the stacks' data and logs (the folder is printed)")
    args = parser.parse_args()
    if not 1 <= args.tokens <= 1000:
        parser.error("--tokens must be 1..1000 (the platform asks for at most 1024 output tokens)")

    tokens = expected_tokens(args.tokens)
    work = Path(tempfile.mkdtemp(prefix="eneo-bench-stream-"))
    fake = FakeProcess(args.tokens, args.delay_ms / 1000)
    started = time.monotonic()
    try:
        phases = asyncio.run(bench(args, work, fake, tokens))
    finally:
        fake.stop()
        if args.keep:
            print(f"stacks' data and logs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print_report(args, phases)
    print()
    print_targets(args, {phase.name: phase for phase in phases})
    print(f"\n{time.monotonic() - started:.0f} s in all; batching adaptive (ANSWER_STREAM_BATCH_MS=0) unless "
          "said")
    bad = any(o.lost or o.duplicated or o.failed or o.reordered for p in phases for o in (p.direct, p.platform))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
