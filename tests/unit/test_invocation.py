"""Event functions wired alike (eneo.core.aio): a request id per invocation in every log line, one deadline."""

import ast
import json
import logging
import time
from pathlib import Path
from types import SimpleNamespace

from eneo.core.aio import deadline, invocation, run
from eneo.core.logging import JsonFormatter, request_id_var

ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger("tests.invocation")


class Lines(logging.Handler):
    """The JSON lines a function writes, as CloudWatch would get them."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter("test"))
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


def context(request_id: str | None, remaining_ms: int = 60_000) -> SimpleNamespace:
    return SimpleNamespace(aws_request_id=request_id, get_remaining_time_in_millis=lambda: remaining_ms)


async def use_case(n: int) -> int:
    log.info("inside the use case")
    return n


@invocation
def handler(event: dict[str, int], ctx: object) -> int:
    log.info("in the handler")
    return run(use_case(event["n"]))


def test_every_line_of_an_invocation_carries_its_request_id_and_the_next_one_its_own() -> None:
    lines = Lines()
    log.addHandler(lines)
    log.setLevel(logging.INFO)
    try:
        assert handler({"n": 1}, context("req-1")) == 1
        assert handler({"n": 2}, context("req-2")) == 2
        handler({"n": 3}, None)  # a script without a Lambda context still gets an id of its own
    finally:
        log.removeHandler(lines)
    ids = [line.get("request_id") for line in lines.lines]
    assert ids[:4] == ["req-1", "req-1", "req-2", "req-2"]
    assert ids[4] == ids[5] and ids[4] not in (None, "req-1", "req-2")
    assert request_id_var.get() is None, "nothing leaks past the invocation"


def test_the_deadline_is_the_context_s_remaining_time_from_now() -> None:
    before = time.monotonic()
    end = deadline(context("r", remaining_ms=30_000))
    assert before + 30 <= end <= time.monotonic() + 30


def test_every_event_function_is_an_invocation_and_asks_eneo_core_aio_for_its_deadline() -> None:
    """An event function (one that runs a coroutine with eneo.core.aio.run) has @invocation on its handler and
    computes no deadline of its own."""
    event_functions = []
    for app in sorted(ROOT.glob("functions/*/app.py")):
        source = app.read_text()
        if "run(" not in source:
            continue  # an HTTP function: Mangum, and eneo.core.http sets the request id
        event_functions.append(app.parent.name)
        handler_def = next(node for node in ast.parse(source).body
                           if isinstance(node, ast.FunctionDef) and node.name == "handler")
        assert [ast.unparse(d) for d in handler_def.decorator_list] == ["invocation"], app
        assert "get_remaining_time_in_millis" not in source, app
    assert sorted(event_functions) == ["complete", "crawl", "crawl_scheduler", "embed", "ingest", "retention", "sweep",
                                       "ws"]
