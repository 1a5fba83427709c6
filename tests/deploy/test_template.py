"""template.yaml deploys: SAM expands it, cfn-lint finds no error, and its structure is what readers rely on.

Runs offline: no AWS credentials, no IAM look-ups, a fixed region (see sam.py).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from . import sam

Template = sam.Template


@pytest.fixture(scope="module")
def template() -> Template:
    return sam.load_template()


@pytest.fixture(scope="module")
def expanded(template: Template) -> Template:
    return sam.expand(template)


def _report(matches: list[Any]) -> str:
    return "\n".join(f"  {m!r}" for m in matches)


def test_sam_expands_to_plain_cloudformation(template: Template, expanded: Template) -> None:
    left = {n: r["Type"] for n, r in expanded["Resources"].items() if r["Type"].startswith("AWS::Serverless::")}
    assert not left, f"SAM resources left after expansion: {left}"
    assert "Transform" not in expanded
    for name, _ in sam.functions(template):
        assert expanded["Resources"][name]["Type"] == "AWS::Lambda::Function"


def test_sam_template_has_no_cfn_lint_errors(template: Template) -> None:
    """cfn-lint validates SAM resources against SAM's own schemas before expansion."""
    matches = sam.lint_matches(template)
    print("cfn-lint (SAM):\n" + _report(matches))
    assert not sam.errors_only(matches), "cfn-lint errors in template.yaml:\n" + _report(matches)


def test_expanded_template_has_no_cfn_lint_errors(expanded: Template) -> None:
    matches = sam.lint_matches(expanded)
    print("cfn-lint (expanded):\n" + _report(matches))
    assert not sam.errors_only(matches), "cfn-lint errors in the expanded template:\n" + _report(matches)


def test_functions_follow_the_layout(template: Template, expanded: Template) -> None:
    """CodeUri under functions/ with app.py defining handler; app.handler; python3.12; the EneoLayer."""
    problems = sam.function_problems(template, expanded)
    assert not problems, "\n".join(problems)


def test_routes_are_versioned_and_claimed_once(template: Template) -> None:
    assert list(sam.http_routes(template)), "no HttpApi routes"
    problems = sam.route_problems(template)
    assert not problems, "\n".join(problems)


# The checks must be able to fail: each breakage below must be reported.


@pytest.fixture
def code_root(tmp_path: Path, template: Template) -> Path:
    """A tree with a valid app.py for every function, so the self-tests do not depend on functions/."""
    for _, props in sam.functions(template):
        app = tmp_path / props["CodeUri"] / "app.py"
        app.parent.mkdir(parents=True, exist_ok=True)
        app.write_text("from mangum import Mangum\n\nhandler = Mangum(object())\n")
    return tmp_path


def _first_function(t: Template) -> dict[str, Any]:
    return next(props for _, props in sam.functions(t))


def _set_global(key: str, value: Any) -> Callable[[Template], None]:
    def mutate(t: Template) -> None:
        t["Globals"]["Function"][key] = value

    return mutate


def _drop_layers(t: Template) -> None:
    del t["Globals"]["Function"]["Layers"]


def _set_function(key: str, value: Any) -> Callable[[Template], None]:
    def mutate(t: Template) -> None:
        _first_function(t)[key] = value

    return mutate


FUNCTION_BREAKAGES: dict[str, tuple[Callable[[Template], None], str]] = {
    "runtime": (_set_global("Runtime", "python3.11"), "python3.12"),
    "handler": (_set_function("Handler", "main.handler"), "Handler"),
    "code outside functions/": (_set_function("CodeUri", "src/auth/"), "not under functions/"),
    "missing code": (_set_function("CodeUri", "functions/nowhere/"), "has no app.py"),
    "no layer": (_drop_layers, "does not use EneoLayer"),
}


@pytest.mark.parametrize("breakage", FUNCTION_BREAKAGES)
def test_function_check_catches(breakage: str, template: Template, code_root: Path) -> None:
    assert sam.function_problems(template, sam.expand(template), code_root) == []
    mutate, expected = FUNCTION_BREAKAGES[breakage]
    broken = copy.deepcopy(template)
    mutate(broken)
    problems = sam.function_problems(broken, sam.expand(broken), code_root)
    assert any(expected in p for p in problems), problems


def test_handler_check_reads_the_module(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    for source, ok in [
        ("def handler(event, context):\n    return {}\n", True),
        ("handler = object()\n", True),
        ("from x import make as handler\n", True),
        ("async def handler(event, context):\n    return {}\n", False),
        ("def main(event, context):\n    handler = 1\n", False),
    ]:
        app.write_text(source)
        assert sam.defines_handler(app) is ok, source


def _add_route(function: int, method: str, path: str, api: bool = True) -> Callable[[Template], None]:
    def mutate(t: Template) -> None:
        props = [p for _, p in sam.functions(t)][function]
        ev: dict[str, Any] = {"Path": path, "Method": method}
        if api:
            ev["ApiId"] = {"Ref": "HttpApi"}
        props.setdefault("Events", {})["Added"] = {"Type": "HttpApi", "Properties": ev}

    return mutate


ROUTE_BREAKAGES: dict[str, tuple[Callable[[Template], None], str]] = {
    "unversioned": (_add_route(0, "GET", "/v1/extra"), "not under /api/v1/"),
    "implicit api": (_add_route(0, "GET", "/api/v1/extra", api=False), "not on the HttpApi"),
    "same route twice": (_add_route(-1, "GET", "/api/v1/health/auth"), "already claimed"),
    "ANY over GET": (_add_route(-1, "ANY", "/api/v1/health/auth"), "already claimed"),
}


@pytest.mark.parametrize("breakage", ROUTE_BREAKAGES)
def test_route_check_catches(breakage: str, template: Template) -> None:
    mutate, expected = ROUTE_BREAKAGES[breakage]
    broken = copy.deepcopy(template)
    mutate(broken)
    assert any(expected in p for p in sam.route_problems(broken)), sam.route_problems(broken)


def test_lint_catches_an_invalid_property(template: Template) -> None:
    broken = copy.deepcopy(template)
    broken["Globals"]["Function"]["Timeout"] = 5_000  # Lambda allows at most 900 s
    assert sam.errors_only(sam.lint_matches(sam.expand(broken)))


def test_expansion_reports_an_invalid_sam_document(template: Template) -> None:
    broken = copy.deepcopy(template)
    _first_function(broken)["Events"]["Broken"] = {"Type": "HttpApi", "Properties": {"Path": 42}}
    with pytest.raises(AssertionError, match="aws-sam-translator rejected"):
        sam.expand(broken)


def test_queues_are_wired_for_ingestion(template: Template) -> None:
    problems = sam.queue_problems(template)
    assert not problems, "\n".join(problems)
    sources = [(n, e) for n, p in sam.functions(template) for e in (p.get("Events") or {}).values()
               if e.get("Type") == "SQS"]
    assert {n for n, _ in sources} == {"IngestFunction", "EmbedFunction", "CrawlFunction"}


def _resource(name: str) -> Callable[[Template], dict[str, Any]]:
    return lambda t: t["Resources"][name]


def _event(function: str, event: str) -> Callable[[Template], dict[str, Any]]:
    return lambda t: t["Resources"][function]["Properties"]["Events"][event]["Properties"]


def _mutate(get: Callable[[Template], dict[str, Any]], path: str, value: Any) -> Callable[[Template], None]:
    """Set (or, with value None, delete) a dotted path below what `get` returns."""
    def mutate(t: Template) -> None:
        node = get(t)
        *parents, last = path.split(".")
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value

    return mutate


QUEUE_BREAKAGES: dict[str, tuple[Callable[[Template], None], str]] = {
    "whole-batch retries": (_mutate(_event("IngestFunction", "Uploads"), "FunctionResponseTypes", None),
                            "ReportBatchItemFailures"),
    "short visibility": (_mutate(lambda t: t["Parameters"]["QueueVisibilityTimeoutSeconds"], "Default", 300),
                         "under 6x"),
    "no dead-letter queue": (_mutate(_resource("EmbedQueue"), "Properties.RedrivePolicy", None), "dead-letter"),
    "short dlq retention": (_mutate(_resource("IngestDeadLetterQueue"), "Properties.MessageRetentionPeriod", 86400),
                            "14 days"),
    "attempts the functions don't know": (
        _mutate(_resource("IngestQueue"), "Properties.RedrivePolicy.maxReceiveCount", {"Ref": "LogLevel"}),
        "INGEST_MAX_ATTEMPTS"),
    "no wait for the queue policy": (_mutate(_resource("DocumentsBucket"), "DependsOn", None), "DependsOn"),
    "policy for another bucket": (_mutate(_resource("DocumentsBucket"), "Properties.BucketName",
                                          {"Fn::Sub": "${AWS::StackName}-other"}), "no AWS::SQS::QueuePolicy"),
}


@pytest.mark.parametrize("breakage", QUEUE_BREAKAGES)
def test_queue_check_catches(breakage: str, template: Template) -> None:
    mutate, expected = QUEUE_BREAKAGES[breakage]
    broken = copy.deepcopy(template)
    mutate(broken)
    problems = sam.queue_problems(broken)
    assert any(expected in p for p in problems), problems
