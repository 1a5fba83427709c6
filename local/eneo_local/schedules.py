"""EventBridge schedules of the template (a function's `Schedule` event), as EventBridge runs them.

SAM turns `Events: {X: {Type: Schedule, Properties: {Schedule: "rate(15 minutes)"}}}` into an
EventBridge rule that invokes the function (asynchronously) at that rate with a "Scheduled Event".
`Schedules` does the same on the stack's event loop: one task per schedule hands the function an
asynchronous invoke every period, the first time one period after the start (as a new rule does), with
EventBridge's event shape (`scheduled_event`). The invoke goes to the stack's AsyncInvoker
(lambda_api.py), Lambda's queue for asynchronous invokes: a run that outlasts the period does not delay
the next (EventBridge does not wait either), a failed run is retried and logged as any asynchronous
invoke is, and what is still queued or running at a stop gets the invoker's grace period.

Read from the template: `Schedule` (`rate(N minute|minutes|hour|hours|day|days)`, with AWS's own rule
that 1 takes the singular and more the plural), `Enabled`/`State` (a disabled rule is not run), `Input`
(a JSON text sent instead of the event, as a rule's Input is) and `Name` (the rule's name in its ARN).
`cron(...)` expressions are refused with a clear message rather than run at the wrong times.
ENEO_SCHEDULES=off runs none of them (e.g. to drive a function by hand in a test).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eneo_local.template import StackTemplate, TemplateError

log = logging.getLogger("eneo_local.schedules")

_UNITS = {"minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"^rate\(\s*(?P<value>\d+)\s+(?P<unit>minutes?|hours?|days?)\s*\)$")

# Queues an asynchronous invoke (AsyncInvoker.submit): function logical id, event, request id.
Submit = Callable[[str, Any, str], None]


@dataclass(frozen=True)
class ScheduleSpec:
    """A function's `Schedule` event: run it every `period` seconds."""

    function: str  # logical id
    event: str  # the event's name in the template
    expression: str  # "rate(15 minutes)"
    period: float  # seconds
    rule_arn: str
    input: Any = None  # the rule's Input (parsed), sent instead of the scheduled event

    def describe(self) -> str:
        """One line for the CLI."""
        return f"{self.function} {self.expression} (first run {_human(self.period)} after start)"


def parse_rate(expression: str) -> float:
    """`rate(N unit)` as seconds; anything else (cron included) raises ValueError saying why."""
    text = expression.strip()
    if text.startswith("cron("):
        raise ValueError(f"{expression!r}: cron expressions are not run by the local stack; use rate(...)")
    match = _RATE.match(text)
    if match is None:
        raise ValueError(f"{expression!r} is not rate(N minute|minutes|hour|hours|day|days)")
    value, unit = int(match["value"]), match["unit"]
    if value < 1:
        raise ValueError(f"{expression!r}: the rate must be a positive whole number")
    if (value == 1) != (not unit.endswith("s")):  # AWS: rate(1 minute), rate(5 minutes)
        raise ValueError(f"{expression!r}: EventBridge wants the singular unit for 1 and the plural otherwise")
    return float(value * _UNITS[unit.rstrip("s")])


def _enabled(props: dict[str, Any]) -> bool:
    if str(props.get("Enabled", True)).lower() == "false":
        return False
    return str(props.get("State", "ENABLED")).upper() == "ENABLED"


def schedules_of(template: StackTemplate) -> list[ScheduleSpec]:
    """Every enabled `Schedule` event of the template's functions; a bad expression is a TemplateError."""
    out = []
    for fn in template.functions.values():
        for event in fn.events:
            if event.type != "Schedule":
                continue
            props, where = event.properties, f"{fn.logical_id}.Events.{event.name}"
            if not _enabled(props):
                continue
            expression = props.get("Schedule")
            if not isinstance(expression, str):
                raise TemplateError(f"{where}: Schedule is missing")
            try:
                period = parse_rate(expression)
            except ValueError as exc:
                raise TemplateError(f"{where}: {exc}") from None
            payload = props.get("Input")
            if payload is not None:
                try:
                    payload = json.loads(payload) if isinstance(payload, str) else payload
                except ValueError:
                    raise TemplateError(f"{where}.Input is not JSON") from None
            name = props.get("Name") or f"{template.stack_name}-{fn.logical_id}{event.name}"
            arn = f"arn:aws:events:{template.region}:{template.account_id}:rule/{name}"
            out.append(ScheduleSpec(fn.logical_id, event.name, expression, period, arn, payload))
    return out


def scheduled_event(spec: ScheduleSpec, template: StackTemplate, now: datetime | None = None) -> dict[str, Any]:
    """The event EventBridge hands a function for a scheduled rule."""
    now = now or datetime.now(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": template.account_id,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": template.region,
        "resources": [spec.rule_arn],
        "detail": {},
    }


def schedules_enabled() -> bool:
    return os.environ.get("ENEO_SCHEDULES", "on").strip().lower() not in ("off", "0", "false", "no")


class Schedules:
    """The template's schedules, each a task of the running loop (see the module docstring).

    `submit` queues an asynchronous invoke (AsyncInvoker.submit); `period` replaces every schedule's
    period (tests: EventBridge's shortest rate is a minute).
    """

    def __init__(self, template: StackTemplate, submit: Submit, *, period: float | None = None) -> None:
        self.template = template
        self.submit = submit
        self.specs = schedules_of(template)
        self.period = period
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._tick(spec), name=f"schedule-{spec.function}-{spec.event}")
                       for spec in self.specs]

    async def _tick(self, spec: ScheduleSpec) -> None:
        period = self.period or spec.period
        next_at = time.monotonic() + period
        while True:
            await asyncio.sleep(max(next_at - time.monotonic(), 0.0))
            next_at += period
            self._fire(spec)

    def _fire(self, spec: ScheduleSpec) -> None:
        event = spec.input if spec.input is not None else scheduled_event(spec, self.template)
        request_id = str(uuid.uuid4())
        try:
            self.submit(spec.function, event, request_id)
        except RuntimeError as exc:  # the invoker is closed (the stack is stopping): this run is skipped
            log.warning("scheduled invoke not queued", extra={
                "function": spec.function, "schedule": spec.expression, "request_id": request_id,
                "error": str(exc)})
            return
        log.info("scheduled invoke queued", extra={
            "function": spec.function, "schedule": spec.expression, "request_id": request_id})

    async def stop(self) -> None:
        """No more runs; those already queued are the invoker's (AsyncInvoker.close gives them a grace)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    def describe(self) -> list[str]:
        return [spec.describe() for spec in self.specs]


def _human(seconds: float) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds:g} s"
