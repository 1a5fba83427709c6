"""Offline deploy validation of template.yaml: SAM expansion, cfn-lint, and the structure readers rely on.

The checks are plain functions that return a list of problems, so the tests can assert both that the
real template has none and that a deliberately broken copy has some (a check that cannot fail proves
nothing).
"""

from __future__ import annotations

import ast
import copy
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
from cfnlint.api import lint
from cfnlint.config import ManualArgs
from cfnlint.decode import decode_str
from cfnlint.match import Match
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
# Eneo's home region; any fixed region works, it only has to be the same on every machine.
REGION = "eu-north-1"
RUNTIME = "python3.12"
HANDLER = "app.handler"
LAYER = "EneoLayer"
API_PREFIX = "/api/v1/"
FUNCTION = "AWS::Serverless::Function"

Template = dict[str, Any]

# The translator warns about "unpublished metrics" on every run; it has no one to publish them to here.
logging.getLogger("samtranslator.metrics.metrics").setLevel(logging.ERROR)


def load_template(path: Path = TEMPLATE) -> Template:
    """Parse the template the way cfn-lint does (short-form tags become Ref/Fn::*), as plain dicts."""
    decoded, errors = decode_str(path.read_text())
    if errors or decoded is None:
        raise ValueError("template.yaml does not parse:\n" + "\n".join(map(str, errors)))
    return json.loads(json.dumps(decoded))


def _with_packaged_code(template: Template) -> Template:
    """Replace local CodeUri/ContentUri by S3 URIs, as `sam package` does, since SAM only accepts S3 URIs."""
    packaged = copy.deepcopy(template)
    for name, resource in packaged.get("Resources", {}).items():
        props = resource.get("Properties") or {}
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://eneo-artifacts/{name}.zip"
    return packaged


def expand(template: Template) -> Template:
    """Translate SAM into plain CloudFormation, offline.

    A fake session with a fixed region stops boto3 from looking for credentials or a region, and the
    managed-policy look-up returns nothing, so the translator's bundled map is all it uses (no IAM calls).
    """
    session = boto3.session.Session(
        aws_access_key_id="offline", aws_secret_access_key="offline", region_name=REGION
    )
    translator = Translator(managed_policy_map={}, sam_parser=Parser(), boto_session=session)
    try:
        return translator.translate(
            _with_packaged_code(template), parameter_values={}, get_managed_policy_map=lambda: {}
        )
    except InvalidDocumentException as exc:
        causes = "\n".join(f"  - {cause.message}" for cause in exc.causes)
        raise AssertionError(f"aws-sam-translator rejected the template:\n{causes}") from exc


def lint_matches(template: Template) -> list[Match]:
    """Run cfn-lint in-process on a template (SAM or expanded CloudFormation)."""
    return lint(json.dumps(template), config=ManualArgs(regions=[REGION]))


def errors_only(matches: list[Match]) -> list[Match]:
    """cfn-lint rule ids starting with E are errors; W and I are advice."""
    return [m for m in matches if m.rule.id.startswith("E")]


def functions(template: Template) -> Iterator[tuple[str, dict[str, Any]]]:
    """(logical id, properties) of every AWS::Serverless::Function."""
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") == FUNCTION:
            yield name, resource.get("Properties") or {}


def function_layers(template: Template) -> dict[str, list[str]]:
    """Each function's layers as SAM merges them: the Globals' first, then its own."""
    common = [layer["Ref"] for layer in _global(template, "Layers") or []]
    return {name: common + [layer["Ref"] for layer in props.get("Layers", [])] for name, props in functions(template)}


def _global(template: Template, key: str) -> Any:
    return (template.get("Globals") or {}).get("Function", {}).get(key)


def defines_handler(app_py: Path) -> bool:
    """True if the module binds a top-level synchronous `handler` (def, assignment or import)."""
    tree = ast.parse(app_py.read_text(), filename=str(app_py))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "handler":
            return True
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "handler" for t in node.targets
        ):
            return True
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "handler":
            return True
        if isinstance(node, ast.ImportFrom) and any(
            (alias.asname or alias.name) == "handler" for alias in node.names
        ):
            return True
    return False


def function_problems(template: Template, expanded: Template, root: Path = ROOT) -> list[str]:
    """Every function: code under functions/ with an app.py defining handler, app.handler, python3.12, the layer."""
    problems: list[str] = []
    if _global(template, "Runtime") != RUNTIME:
        problems.append(f"Globals.Function.Runtime must be {RUNTIME}")
    found = False
    for name, props in functions(template):
        found = True
        code_uri = props.get("CodeUri", _global(template, "CodeUri"))
        if not isinstance(code_uri, str) or not code_uri.startswith("functions/"):
            problems.append(f"{name}: CodeUri {code_uri!r} is not under functions/")
        else:
            app_py = root / code_uri / "app.py"
            if not app_py.is_file():
                problems.append(f"{name}: {code_uri} has no app.py")
            elif not defines_handler(app_py):
                problems.append(f"{name}: {code_uri}app.py defines no top-level `handler`")
        handler = props.get("Handler", _global(template, "Handler"))
        if handler != HANDLER:
            problems.append(f"{name}: Handler is {handler!r}, not {HANDLER!r}")
        if "Runtime" in props and props["Runtime"] != RUNTIME:
            problems.append(f"{name}: overrides Runtime with {props['Runtime']!r}")
        lambda_props = expanded["Resources"].get(name, {}).get("Properties", {})
        if lambda_props.get("Runtime") != RUNTIME:
            problems.append(f"{name}: expands to Runtime {lambda_props.get('Runtime')!r}")
        layer_refs = [layer.get("Ref") for layer in lambda_props.get("Layers", []) if isinstance(layer, dict)]
        if not any(
            isinstance(ref, str)
            and ref.startswith(LAYER)
            and expanded["Resources"].get(ref, {}).get("Type") == "AWS::Lambda::LayerVersion"
            for ref in layer_refs
        ):
            problems.append(f"{name}: does not use {LAYER} (layers: {layer_refs})")
    if not found:
        problems.append("template has no AWS::Serverless::Function")
    return problems


def http_routes(template: Template) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(function, event, method, path) of every HttpApi event, with the event's properties."""
    for name, props in functions(template):
        for event_name, event in (props.get("Events") or {}).items():
            if event.get("Type") == "HttpApi":
                ev = event.get("Properties") or {}
                yield f"{name}.{event_name}", str(ev.get("Method", "ANY")).upper(), str(ev.get("Path", "")), ev


def route_problems(template: Template) -> list[str]:
    """Routes live under /api/v1/ on the one HttpApi, and no (method, path) is claimed twice.

    ANY claims every method of its path, so ANY and GET on one path in two functions also clash.
    """
    problems: list[str] = []
    claims: dict[tuple[str, str], str] = {}
    for owner, method, path, ev in http_routes(template):
        if not path.startswith(API_PREFIX):
            problems.append(f"{owner}: route {method} {path} is not under {API_PREFIX}")
        if ev.get("ApiId") != {"Ref": "HttpApi"}:
            problems.append(f"{owner}: route {method} {path} is not on the HttpApi (ApiId: {ev.get('ApiId')!r})")
        function = owner.split(".")[0]
        clashing = [
            (m, p)
            for (m, p), other in claims.items()
            if p == path
            and (m == method or ("ANY" in (m, method) and other.split(".")[0] != function))
        ]
        for key in clashing:
            problems.append(f"{owner}: {method} {path} is already claimed by {claims[key]} ({key[0]} {path})")
        claims.setdefault((method, path), owner)
    return problems


# Queues and their wiring ----------------------------------------------------------------------

QUEUE = "AWS::SQS::Queue"
DLQ_RETENTION = 14 * 24 * 3600  # the most SQS keeps a message: time to look at what failed
VISIBILITY_FACTOR = 6  # AWS: a queue's VisibilityTimeout >= 6x the timeout of the function it feeds
ATTEMPTS_VARIABLE = "INGEST_MAX_ATTEMPTS"  # the functions' view of maxReceiveCount


def _value(template: Template, value: Any) -> Any:
    """A literal, or the Default of the parameter a Ref names."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return (template.get("Parameters") or {}).get(value["Ref"], {}).get("Default")
    return value


def _queue_of(template: Template, ref: Any) -> str | None:
    """The logical id of a template queue named by `!GetAtt Q.Arn`."""
    target = (ref or {}).get("Fn::GetAtt") if isinstance(ref, dict) else None
    if isinstance(target, str):
        target = target.split(".", 1)
    if isinstance(target, list) and len(target) == 2 and target[1] == "Arn" and \
            template["Resources"].get(target[0], {}).get("Type") == QUEUE:
        return str(target[0])
    return None


def queue_problems(template: Template) -> list[str]:
    """SQS event sources and bucket → queue notifications are wired as ingestion relies on.

    Every SQS event reports partial batch failures and reads a queue of this template whose
    VisibilityTimeout is >= 6x the function's Timeout and whose RedrivePolicy sends to a dead-letter
    queue of this template that keeps messages 14 days; a maxReceiveCount taken from a parameter is
    also given to the functions as INGEST_MAX_ATTEMPTS. A bucket notifying a queue waits for
    (DependsOn) a queue policy that lets s3.amazonaws.com send to that queue from that bucket only.
    """
    problems: list[str] = []
    resources = template["Resources"]
    env = ((_global(template, "Environment") or {}).get("Variables")) or {}
    for name, props in functions(template):
        timeout = props.get("Timeout", _global(template, "Timeout")) or 3
        for event_name, event in (props.get("Events") or {}).items():
            if event.get("Type") != "SQS":
                continue
            owner, ev = f"{name}.{event_name}", event.get("Properties") or {}
            queue = _queue_of(template, ev.get("Queue"))
            if queue is None:
                problems.append(f"{owner}: Queue is not !GetAtt <queue of this template>.Arn")
                continue
            if "ReportBatchItemFailures" not in (ev.get("FunctionResponseTypes") or []):
                problems.append(f"{owner}: no FunctionResponseTypes [ReportBatchItemFailures]: one failed "
                                "message would retry its whole batch")
            qprops = resources[queue].get("Properties") or {}
            visibility = _value(template, qprops.get("VisibilityTimeout", 30))
            if visibility is None or int(visibility) < VISIBILITY_FACTOR * int(timeout):
                problems.append(f"{queue}: VisibilityTimeout {visibility} is under {VISIBILITY_FACTOR}x {name}'s "
                                f"Timeout {timeout}")
            redrive = qprops.get("RedrivePolicy") or {}
            dead = _queue_of(template, redrive.get("deadLetterTargetArn"))
            if dead is None:
                problems.append(f"{queue}: no RedrivePolicy to a dead-letter queue of this template")
                continue
            retention = (resources[dead].get("Properties") or {}).get("MessageRetentionPeriod")
            if retention != DLQ_RETENTION:
                problems.append(f"{dead}: MessageRetentionPeriod {retention}, not {DLQ_RETENTION} (14 days)")
            count = redrive.get("maxReceiveCount")
            if isinstance(count, dict) and env.get(ATTEMPTS_VARIABLE) != count:
                problems.append(f"{queue}: maxReceiveCount {count} is not what the functions get as "
                                f"{ATTEMPTS_VARIABLE} ({env.get(ATTEMPTS_VARIABLE)!r})")
    for bucket, resource in resources.items():
        if resource.get("Type") != "AWS::S3::Bucket":
            continue
        props = resource.get("Properties") or {}
        configs = (props.get("NotificationConfiguration") or {}).get("QueueConfigurations") or []
        depends = resource.get("DependsOn") or []
        depends = [depends] if isinstance(depends, str) else depends
        for config in configs:
            queue = _queue_of(template, config.get("Queue"))
            if queue is None:
                problems.append(f"{bucket}: notifies {config.get('Queue')!r}, not a queue of this template")
                continue
            policies = [p for p, r in resources.items() if r.get("Type") == "AWS::SQS::QueuePolicy"
                        and {"Ref": queue} in ((r.get("Properties") or {}).get("Queues") or [])
                        and _allows_bucket(r, props.get("BucketName"))]
            if not policies:
                problems.append(f"{bucket}: no AWS::SQS::QueuePolicy lets s3.amazonaws.com send to {queue} with "
                                f"aws:SourceArn this bucket ({props.get('BucketName')!r})")
            elif not set(policies) & set(depends):
                problems.append(f"{bucket}: does not DependsOn {policies[0]}: S3 checks it may send when the "
                                "notification is created")
    return problems


def _allows_bucket(policy: dict[str, Any], bucket_name: Any) -> bool:
    """The policy lets S3 SendMessage, for the bucket whose fixed name is `bucket_name` (a !Sub)."""
    if not isinstance(bucket_name, dict) or not isinstance(bucket_name.get("Fn::Sub"), str):
        return False  # no fixed name: the policy cannot name the bucket without a circular dependency
    expected = {"Fn::Sub": "arn:${AWS::Partition}:s3:::" + bucket_name["Fn::Sub"]}
    for statement in (policy["Properties"].get("PolicyDocument") or {}).get("Statement") or []:
        if statement.get("Effect") == "Allow" and \
                (statement.get("Principal") or {}).get("Service") == "s3.amazonaws.com" and \
                "sqs:SendMessage" in ([statement.get("Action")] if isinstance(statement.get("Action"), str)
                                      else statement.get("Action") or []) and \
                ((statement.get("Condition") or {}).get("ArnEquals") or {}).get("aws:SourceArn") == expected:
            return True
    return False
