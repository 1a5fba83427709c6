"""EventBridge schedules of the template, run by the local stack (eneo_local.schedules): rate parsing,
the scheduled event's shape, and invokes on real worker processes at a (shortened) rate."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from eneo_local.lambda_api import AsyncInvoker
from eneo_local.schedules import (
    Schedules,
    parse_rate,
    scheduled_event,
    schedules_enabled,
    schedules_of,
)
from eneo_local.template import StackTemplate, TemplateError, load_template
from eneo_local.workers import FunctionHost, Invocation

FIXTURE = Path(__file__).parent / "fixtures" / "schedule" / "template.yaml"
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("expression", "seconds"), [
    ("rate(1 minute)", 60), ("rate(15 minutes)", 900), ("rate(1 hour)", 3600), ("rate(6 hours)", 21600),
    ("rate(1 day)", 86400), ("rate(2 days)", 172800), (" rate( 5 minutes ) ", 300)])
def test_rates_are_read_as_seconds(expression: str, seconds: int) -> None:
    assert parse_rate(expression) == seconds


@pytest.mark.parametrize(("expression", "why"), [
    ("cron(0 12 * * ? *)", "cron expressions are not run"), ("rate(0 minutes)", "positive"),
    ("rate(5 minute)", "plural"), ("rate(1 minutes)", "singular"), ("rate(5 weeks)", "is not rate"),
    ("rate(1.5 hours)", "is not rate"), ("every 5 minutes", "is not rate")])
def test_bad_expressions_are_refused_with_the_reason(expression: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_rate(expression)


def _template(tmp_path: Path) -> StackTemplate:
    return load_template(FIXTURE, {"RecordDir": str(tmp_path)}, stack_name="t")


def test_enabled_schedules_are_read_from_the_template(tmp_path: Path) -> None:
    specs = {s.function: s for s in schedules_of(_template(tmp_path))}
    assert set(specs) == {"TickFunction", "InputFunction"}  # the disabled one is not run
    tick, daily = specs["TickFunction"], specs["InputFunction"]
    assert (tick.event, tick.period, tick.input) == ("Every", 60, None)
    assert tick.rule_arn == "arn:aws:events:eu-north-1:123456789012:rule/t-TickFunctionEvery"
    assert (daily.rule_arn.rsplit("/", 1)[1], daily.input) == ("nightly", {"job": "nightly"})
    assert tick.describe() == "TickFunction rate(1 minute) (first run 1 minute after start)"


def test_the_project_template_sweeps_crawls_relays_parked_runs_retention_and_purges_the_audit_log() -> None:
    template = load_template(ROOT / "template.yaml", {
        "DatabaseUrl": "postgresql+psycopg://app@/eneo", "RedisUrl": "unix:///tmp/r.sock", "JwtSecret": "j" * 40,
        "SuperApiKey": "k" * 40, "EncryptionKey": "e" * 40})
    periods = {s.function: s.period for s in schedules_of(template)}
    assert periods == {"SweepFunction": 900, "WsFunction": 60, "CrawlSchedulerFunction": 300,
                       "RetentionFunction": 3600, "AdminFunction": 86400}
    assert template.functions["SweepFunction"].timeout == 300


def test_a_cron_schedule_stops_the_template_with_a_clear_message(tmp_path: Path) -> None:
    text = FIXTURE.read_text().replace('"rate(1 minute)"', '"cron(0/5 * * * ? *)"')
    (tmp_path / "template.yaml").write_text(text)
    template = load_template(tmp_path / "template.yaml", {"RecordDir": str(tmp_path)}, stack_name="t")
    with pytest.raises(TemplateError, match=r"TickFunction\.Events\.Every: .*cron expressions are not run"):
        schedules_of(template)


def test_the_event_has_eventbridges_shape(tmp_path: Path) -> None:
    template = _template(tmp_path)
    spec = schedules_of(template)[0]
    event = scheduled_event(spec, template, datetime(2026, 11, 30, 5, 15, 0, 123, tzinfo=UTC))
    assert set(event) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources",
                          "detail"}
    assert (event["version"], event["detail-type"], event["source"], event["detail"]) == (
        "0", "Scheduled Event", "aws.events", {})
    assert (event["account"], event["region"]) == ("123456789012", "eu-north-1")
    assert event["time"] == "2026-11-30T05:15:00Z"
    assert event["resources"] == [spec.rule_arn]
    assert event["id"] != scheduled_event(spec, template)["id"]


@pytest.mark.parametrize(("value", "on"), [(None, True), ("on", True), ("off", False), ("OFF", False)])
def test_eneo_schedules_off_disables_them(monkeypatch: pytest.MonkeyPatch, value: str | None, on: bool) -> None:
    if value is None:
        monkeypatch.delenv("ENEO_SCHEDULES", raising=False)
    else:
        monkeypatch.setenv("ENEO_SCHEDULES", value)
    assert schedules_enabled() is on


# --- invokes --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def host(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[StackTemplate, FunctionHost, Path]]:
    record = tmp_path_factory.mktemp("schedule-record")
    template = load_template(FIXTURE, {"RecordDir": str(record)}, stack_name="t")
    functions = FunctionHost(template, {}, max_concurrency=2)
    try:
        assert all((await functions.start()).values())
        yield template, functions, record
    finally:
        await functions.close()


def _events(record: Path) -> list[dict[str, Any]]:
    path = record / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_each_schedule_invokes_its_function_at_the_rate_first_after_one_period(
        host: tuple[StackTemplate, FunctionHost, Path]) -> None:
    template, functions, record = host
    invoker = AsyncInvoker(functions)  # EventBridge invokes a function asynchronously
    schedules = Schedules(template, invoker.submit, period=0.5)
    before = len(_events(record))
    t0 = time.monotonic()
    schedules.start()
    await asyncio.sleep(0.3)
    assert len(_events(record)) == before  # nothing at start: the first run is one period later
    await asyncio.sleep(1.55)
    await schedules.stop()
    assert await invoker.join(5)  # the runs queued before the stop still run
    stopped = len(_events(record))
    events = _events(record)[before:]
    ticks = [e["event"] for e in events if e["function"] == "t-tick"]
    inputs = [e["event"] for e in events if e["function"] == "t-input"]
    assert 2 <= len(ticks) <= 4, f"{len(ticks)} runs in {time.monotonic() - t0:.1f} s at 0.5 s"
    assert all(e["detail-type"] == "Scheduled Event" and e["source"] == "aws.events" for e in ticks)
    assert ticks[0]["resources"] == ["arn:aws:events:eu-north-1:123456789012:rule/t-TickFunctionEvery"]
    assert len({e["id"] for e in ticks}) == len(ticks)
    assert inputs and all(e == {"job": "nightly"} for e in inputs)  # a rule's Input replaces the event
    await asyncio.sleep(0.8)
    assert len(_events(record)) == stopped  # stopped: no more runs
    await invoker.close()


async def test_stop_abandons_a_run_still_going_after_the_grace(tmp_path: Path) -> None:
    template = _template(tmp_path)
    started, abandoned = asyncio.Event(), asyncio.Event()

    async def slow(function: str, event: Any, request_id: str | None = None) -> Invocation:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            abandoned.set()
            raise
        return Invocation("ok")

    pools = {name: SimpleNamespace(max_instances=1) for name in template.functions}
    invoker = AsyncInvoker(SimpleNamespace(pools=pools, invoke=slow))  # type: ignore[arg-type]
    schedules = Schedules(template, invoker.submit, period=0.05)
    schedules.start()
    await asyncio.wait_for(started.wait(), 5)
    t0 = time.monotonic()
    await schedules.stop()
    await invoker.close(grace=0.2)  # the stack's stop: schedules first, then the invoker
    assert time.monotonic() - t0 < 2
    assert abandoned.is_set() and invoker.pending == 0


async def test_a_failing_run_does_not_stop_the_schedule(tmp_path: Path) -> None:
    template = _template(tmp_path)
    calls: list[str] = []

    def failing(function: str, event: Any, request_id: str) -> None:
        calls.append(function)
        raise RuntimeError("the async invoker is closed")

    schedules = Schedules(template, failing, period=0.1)
    schedules.start()
    await asyncio.sleep(0.55)
    await schedules.stop()
    assert calls.count("TickFunction") >= 3
