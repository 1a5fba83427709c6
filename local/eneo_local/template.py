"""Reads template.yaml (AWS SAM) into typed specs the local stack hosts.

The template is the single source of truth, so the local stack must read it the way CloudFormation
and SAM do: short tags (`!Ref`, `!Sub`, ...) become intrinsic functions, SAM `Globals` merge into
each function (maps merged, lists appended, scalars overridden), parameters come from the local
stack (or their `Default`), and `!Ref`/`!GetAtt` on a resource give the local stand-in's name.

Resources and function events are read by small functions registered per `Type`
(`RESOURCE_READERS`, `EVENT_READERS`); a type nobody reads yet is kept raw in
`StackTemplate.resources`, so queues, schedules and a WebSocket API slot in as one reader each.

Queues (`AWS::SQS::Queue`) become `QueueSpec`s with their CreateQueue attributes (RedrivePolicy as
SQS's JSON, pointing at the dead-letter queue of this template); a function's `SQS` event becomes a
`SqsEventSource` (the event-source mapping event_sources.py runs); a bucket's
`NotificationConfiguration.QueueConfigurations` become `QueueNotification`s in the S3 API's shape.

SAM has no WebSocket event, so a WebSocket API is read from the raw CloudFormation resources
(`AWS::ApiGatewayV2::Api` with ProtocolType WEBSOCKET, its Routes, Integrations and Stage): each
route's target integration is followed to the function whose ARN its IntegrationUri names.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eneo_local.intrinsics import Resolver, TemplateError, as_text, load_yaml

__all__ = ["BucketSpec", "CorsConfig", "FunctionEvent", "FunctionSpec", "HttpApiSpec", "HttpRoute",
           "QueueNotification", "QueueSpec", "SqsEventSource", "StackTemplate", "TemplateError",
           "WebSocketApiSpec", "load_template"]

DEFAULT_STACK_NAME = "eneo-local"
DEFAULT_REGION = "eu-north-1"
DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account, so ARNs line up with its resources
IMPLICIT_HTTP_API = "ServerlessHttpApi"  # SAM's name for the API of HttpApi events without ApiId


# ---------------------------------------------------------------------------------------------
# Typed specs


@dataclass(frozen=True)
class FunctionEvent:
    """One entry of a function's `Events`, resolved; typed readers turn some into richer specs."""

    name: str
    type: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str  # the physical FunctionName
    code_uri: Path
    handler: str  # "module.func", as Lambda's Python runtime reads it
    runtime: str
    timeout: int  # seconds
    memory_size: int  # MB
    environment: dict[str, str]
    events: tuple[FunctionEvent, ...] = ()
    reserved_concurrency: int | None = None
    # EventInvokeConfig: how Lambda retries and ages asynchronous invokes (its defaults: 2, 6 h)
    async_retries: int = 2
    async_max_age: int = 6 * 3600  # seconds

    @property
    def handler_module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def handler_function(self) -> str:
        return self.handler.rsplit(".", 1)[1]


@dataclass(frozen=True)
class HttpRoute:
    """An HttpApi event: `METHOD /path` on an API, served by a function."""

    api: str  # logical id of the HttpApi
    method: str  # upper case, or ANY
    path: str  # "/api/v1/spaces/{proxy+}", or "$default"
    function: str  # logical id
    event: str  # the event's name in the template

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"


@dataclass(frozen=True)
class CorsConfig:
    """An HttpApi's CorsConfiguration, which API Gateway applies itself (backend CORS is ignored)."""

    allow_origins: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False


@dataclass(frozen=True)
class HttpApiSpec:
    logical_id: str
    api_id: str
    cors: CorsConfig | None = None


@dataclass(frozen=True)
class QueueNotification:
    """One entry of a bucket's NotificationConfiguration.QueueConfigurations."""

    id: str  # the configuration's Id (CloudFormation makes one up; here: bucket-queue-index)
    queue: str  # logical id of the queue
    events: tuple[str, ...]  # "s3:ObjectCreated:*", ...
    filter: dict[str, Any] | None = None  # the S3 API's shape: {"Key": {"FilterRules": [{"Name", "Value"}]}}


@dataclass(frozen=True)
class BucketSpec:
    logical_id: str
    name: str
    cors_rules: tuple[dict[str, Any], ...] = ()  # in the S3 API's shape (put_bucket_cors)
    properties: dict[str, Any] = field(default_factory=dict)  # resolved, for what comes later
    notifications: tuple[QueueNotification, ...] = ()


@dataclass(frozen=True)
class QueueSpec:
    logical_id: str
    name: str
    url: str  # what `!Ref` gives: <sqs endpoint>/<account>/<name>
    arn: str
    attributes: dict[str, str] = field(default_factory=dict)  # CreateQueue's, RedrivePolicy as JSON
    dead_letter_queue: str | None = None  # logical id of the RedrivePolicy's target
    max_receive_count: int | None = None

    @property
    def visibility_timeout(self) -> int:
        return int(self.attributes.get("VisibilityTimeout", 30))  # SQS's default


@dataclass(frozen=True)
class SqsEventSource:
    """A function's `SQS` event: Lambda polls the queue and invokes the function with batches."""

    function: str  # logical id
    event: str  # the event's name in the template
    queue: str  # logical id
    batch_size: int = 10  # Lambda's default for standard queues
    report_batch_item_failures: bool = False  # FunctionResponseTypes: [ReportBatchItemFailures]
    enabled: bool = True
    maximum_concurrency: int | None = None  # ScalingConfig.MaximumConcurrency


@dataclass(frozen=True)
class WebSocketApiSpec:
    """An API Gateway WebSocket API: which function serves each route key, on which stage."""

    logical_id: str
    api_id: str
    route_selection_expression: str  # "$request.body.action"
    stage: str
    routes: dict[str, str] = field(default_factory=dict)  # route key ($connect, $default, ...) -> function

    @property
    def selection_path(self) -> tuple[str, ...]:
        """`$request.body.action` as ("action",): the JSON path whose value selects the route."""
        return tuple(self.route_selection_expression.strip("${}").split(".")[2:])


@dataclass
class StackTemplate:
    path: Path
    stack_name: str
    region: str
    account_id: str
    parameters: dict[str, str]
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    http_apis: dict[str, HttpApiSpec] = field(default_factory=dict)
    routes: list[HttpRoute] = field(default_factory=list)
    buckets: dict[str, BucketSpec] = field(default_factory=dict)
    websocket_apis: dict[str, WebSocketApiSpec] = field(default_factory=dict)
    queues: dict[str, QueueSpec] = field(default_factory=dict)
    sqs_event_sources: list[SqsEventSource] = field(default_factory=list)
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)  # every resource, unresolved

    @property
    def root(self) -> Path:
        return self.path.parent



# ---------------------------------------------------------------------------------------------
# SAM Globals


def merge_globals(global_props: Any, props: dict[str, Any]) -> dict[str, Any]:
    """SAM's rule: maps merge, lists append (globals first), scalars from the resource win."""
    if not isinstance(global_props, dict):
        return dict(props)
    out = dict(global_props)
    for key, value in props.items():
        base = out.get(key)
        if isinstance(base, dict) and isinstance(value, dict) and not _is_intrinsic(value):
            out[key] = merge_globals(base, value)
        elif isinstance(base, list) and isinstance(value, list):
            out[key] = base + value
        else:
            out[key] = value
    return out


def _is_intrinsic(value: dict[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref"))


# ---------------------------------------------------------------------------------------------
# Readers, one per resource type and per event type

ResourceReader = Callable[["_Reading", str, dict[str, Any]], None]
EventReader = Callable[["_Reading", FunctionSpec, FunctionEvent], None]


@dataclass
class _Reading:
    resolver: Resolver
    out: StackTemplate
    globals_: dict[str, Any]


def _read_function(ctx: _Reading, logical_id: str, resource: dict[str, Any]) -> None:
    props = merge_globals(ctx.globals_.get("Function"), resource.get("Properties") or {})
    r = ctx.resolver

    def get(key: str, default: Any = None) -> Any:
        value = r.resolve(props.get(key), f"{logical_id}.{key}")
        return default if value is None else value

    handler, code_uri = get("Handler"), get("CodeUri")
    if not isinstance(handler, str) or "." not in handler:
        raise TemplateError(f"{logical_id}.Handler must be 'module.function', got {handler!r}")
    if not isinstance(code_uri, str):
        raise TemplateError(f"{logical_id}.CodeUri must be a local folder, got {code_uri!r}")
    variables = get("Environment", {}).get("Variables") or {}
    invoke_config = get("EventInvokeConfig", {})
    spec = FunctionSpec(
        logical_id=logical_id,
        name=r.physical_name(logical_id),
        code_uri=(ctx.out.root / code_uri).resolve(),
        handler=handler,
        runtime=str(get("Runtime", "python3.12")),
        timeout=int(get("Timeout", 3)),  # Lambda's defaults
        memory_size=int(get("MemorySize", 128)),
        environment={str(k): "" if v is None else as_text(v) for k, v in variables.items()},
        reserved_concurrency=(int(v) if (v := get("ReservedConcurrentExecutions")) is not None else None),
        async_retries=int(invoke_config.get("MaximumRetryAttempts", 2)),
        async_max_age=int(invoke_config.get("MaximumEventAgeInSeconds", 6 * 3600)),
    )
    events = []
    for name, event in (props.get("Events") or {}).items():
        where = f"{logical_id}.Events.{name}"
        events.append(FunctionEvent(name, str(event.get("Type")),
                                    r.resolve(event.get("Properties") or {}, where) or {}))
    spec = dataclasses.replace(spec, events=tuple(events))
    ctx.out.functions[logical_id] = spec
    for event in spec.events:
        if reader := EVENT_READERS.get(event.type):
            reader(ctx, spec, event)


def _read_http_api_event(ctx: _Reading, fn: FunctionSpec, event: FunctionEvent) -> None:
    props = event.properties
    api = _api_logical_id(ctx, props.get("ApiId"), f"{fn.logical_id}.Events.{event.name}")
    path, method = props.get("Path"), props.get("Method")
    if path is None and method is None:
        path, method = "$default", "ANY"
    if not isinstance(path, str) or not isinstance(method, str):
        raise TemplateError(f"{fn.logical_id}.Events.{event.name}: HttpApi needs Path and Method")
    method = method.upper()
    if method in ("*", "X-AMAZON-APIGATEWAY-ANY-METHOD"):
        method = "ANY"
    ctx.out.routes.append(HttpRoute(api, method, path, fn.logical_id, event.name))
    if api == IMPLICIT_HTTP_API and api not in ctx.out.http_apis:
        ctx.out.http_apis[api] = HttpApiSpec(api, "localserverlesshttpapi", None)


def _api_logical_id(ctx: _Reading, api_id: Any, where: str) -> str:
    """`ApiId: !Ref HttpApi` resolved to the API's local id; map it back to the logical id."""
    if api_id is None:
        return IMPLICIT_HTTP_API
    for logical_id, resource in ctx.resolver.resources.items():
        if resource.get("Type") == "AWS::Serverless::HttpApi" and \
                ctx.resolver.physical_name(logical_id) == api_id:
            return logical_id
    raise TemplateError(f"{where}: ApiId {api_id!r} is not an AWS::Serverless::HttpApi of this template")


def _read_http_api(ctx: _Reading, logical_id: str, resource: dict[str, Any]) -> None:
    props = merge_globals(ctx.globals_.get("HttpApi"), resource.get("Properties") or {})
    cors = ctx.resolver.resolve(props.get("CorsConfiguration"), f"{logical_id}.CorsConfiguration")
    config: CorsConfig | None = None
    if cors is True:
        config = CorsConfig(allow_origins=("*",), allow_headers=("*",), allow_methods=("*",))
    elif isinstance(cors, str):
        config = CorsConfig(allow_origins=(cors.strip("'"),), allow_headers=("*",), allow_methods=("*",))
    elif isinstance(cors, dict):
        config = CorsConfig(
            allow_origins=tuple(cors.get("AllowOrigins") or ()),
            allow_headers=tuple(cors.get("AllowHeaders") or ()),
            allow_methods=tuple(m.upper() for m in cors.get("AllowMethods") or ()),
            expose_headers=tuple(cors.get("ExposeHeaders") or ()),
            max_age=int(cors["MaxAge"]) if cors.get("MaxAge") is not None else None,
            allow_credentials=bool(cors.get("AllowCredentials", False)),
        )
    ctx.out.http_apis[logical_id] = HttpApiSpec(logical_id, ctx.resolver.physical_name(logical_id), config)


_CORS_RULE_KEYS = {"AllowedHeaders": "AllowedHeaders", "AllowedMethods": "AllowedMethods",
                   "AllowedOrigins": "AllowedOrigins", "ExposedHeaders": "ExposeHeaders",
                   "Id": "ID", "MaxAge": "MaxAgeSeconds"}


def _read_bucket(ctx: _Reading, logical_id: str, resource: dict[str, Any]) -> None:
    props = ctx.resolver.resolve(resource.get("Properties") or {}, logical_id) or {}
    rules = ((props.get("CorsConfiguration") or {}).get("CorsRules")) or []
    cors = tuple({_CORS_RULE_KEYS[k]: v for k, v in rule.items() if k in _CORS_RULE_KEYS} for rule in rules)
    notifications = []
    configs = (props.get("NotificationConfiguration") or {}).get("QueueConfigurations") or []
    for i, config in enumerate(configs):
        where = f"{logical_id}.NotificationConfiguration.QueueConfigurations[{i}]"
        queue = _queue_of_arn(ctx, config.get("Queue"), f"{where}.Queue")
        filter_rules = [{"Name": str(r["Name"]).lower(), "Value": str(r["Value"])}
                        for r in ((config.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []]
        notifications.append(QueueNotification(
            f"{logical_id}-{queue}-{i}", queue, (str(config.get("Event")),),
            {"Key": {"FilterRules": filter_rules}} if filter_rules else None))
    ctx.out.buckets[logical_id] = BucketSpec(logical_id, ctx.resolver.physical_name(logical_id), cors, props,
                                             tuple(notifications))


# Queues and SQS event sources ----------------------------------------------------------------

_QUEUE_ATTRIBUTES = ("DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod", "ReceiveMessageWaitTimeSeconds",
                     "VisibilityTimeout", "FifoQueue", "ContentBasedDeduplication")


def _queue_of_arn(ctx: _Reading, arn: Any, where: str) -> str:
    """The logical id of the template's queue with this ARN."""
    for logical_id, resource in ctx.resolver.resources.items():
        if resource.get("Type") == "AWS::SQS::Queue" and ctx.resolver.arn(logical_id) == arn:
            return logical_id
    raise TemplateError(f"{where}: {arn!r} is not the ARN of an AWS::SQS::Queue of this template")


def _read_queue(ctx: _Reading, logical_id: str, resource: dict[str, Any]) -> None:
    props = ctx.resolver.resolve(resource.get("Properties") or {}, logical_id) or {}
    attributes = {k: as_text(props[k]) for k in _QUEUE_ATTRIBUTES if props.get(k) is not None}
    dead_letter, max_receives = None, None
    if redrive := props.get("RedrivePolicy"):
        if isinstance(redrive, str):
            redrive = json.loads(redrive)
        dead_letter = _queue_of_arn(ctx, redrive.get("deadLetterTargetArn"), f"{logical_id}.RedrivePolicy")
        max_receives = int(redrive.get("maxReceiveCount", 0))
        if max_receives < 1:
            raise TemplateError(f"{logical_id}.RedrivePolicy.maxReceiveCount must be at least 1")
        attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": redrive["deadLetterTargetArn"],
                                                  "maxReceiveCount": max_receives})
    r = ctx.resolver
    ctx.out.queues[logical_id] = QueueSpec(logical_id, r.physical_name(logical_id), r.queue_url(logical_id),
                                           r.arn(logical_id), attributes, dead_letter, max_receives)


def _read_sqs_event(ctx: _Reading, fn: FunctionSpec, event: FunctionEvent) -> None:
    props, where = event.properties, f"{fn.logical_id}.Events.{event.name}"
    queue = _queue_of_arn(ctx, props.get("Queue"), f"{where}.Queue")
    if props.get("FilterCriteria"):
        raise TemplateError(f"{where}: FilterCriteria is not supported by the local stack")
    concurrency = (props.get("ScalingConfig") or {}).get("MaximumConcurrency")
    ctx.out.sqs_event_sources.append(SqsEventSource(
        fn.logical_id, event.name, queue,
        batch_size=int(props.get("BatchSize", 10)),
        report_batch_item_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
        enabled=props.get("Enabled", True) not in (False, "false", "False"),
        maximum_concurrency=int(concurrency) if concurrency is not None else None))


# WebSocket APIs (raw CloudFormation: SAM has no WebSocket event) -----------------------------

_SELECTION = re.compile(r"^\$request\.body(\.[A-Za-z0-9_-]+)+$|^\$\{request\.body(\.[A-Za-z0-9_-]+)+\}$")
_INTEGRATION_URI = re.compile(r"^arn:[^:]+:apigateway:[^:]*:lambda:path/2015-03-31/functions/(?P<fn>.+)/invocations$")


def _read_v2_api(ctx: _Reading, logical_id: str, resource: dict[str, Any]) -> None:
    props = ctx.resolver.resolve(resource.get("Properties") or {}, logical_id) or {}
    if props.get("ProtocolType") != "WEBSOCKET":
        return  # an HTTP API declared without SAM: not hosted locally (yet)
    expression = props.get("RouteSelectionExpression")
    if not isinstance(expression, str) or not _SELECTION.match(expression):
        raise TemplateError(f"{logical_id}.RouteSelectionExpression: the local stack reads "
                            f"'$request.body.<path>', got {expression!r}")
    ctx.out.websocket_apis[logical_id] = WebSocketApiSpec(
        logical_id, ctx.resolver.physical_name(logical_id), expression, stage="")


def _websocket_api(ctx: _Reading, api_id: Any, where: str) -> WebSocketApiSpec | None:
    """The WebSocket API an `ApiId: !Ref Api` names; None for another ApiGatewayV2 API."""
    for spec in ctx.out.websocket_apis.values():
        if spec.api_id == api_id:
            return spec
    if any(r.get("Type") == "AWS::ApiGatewayV2::Api" and ctx.resolver.physical_name(lid) == api_id
           for lid, r in ctx.resolver.resources.items()):
        return None
    raise TemplateError(f"{where}: ApiId {api_id!r} is not an AWS::ApiGatewayV2::Api of this template")


def _integration_function(ctx: _Reading, logical_id: str) -> str:
    """The logical id of the function an AWS_PROXY integration invokes."""
    resource = ctx.resolver.resources[logical_id]
    props = ctx.resolver.resolve(resource.get("Properties") or {}, logical_id) or {}
    if props.get("IntegrationType") != "AWS_PROXY":
        raise TemplateError(f"{logical_id}.IntegrationType: the local stack hosts AWS_PROXY (Lambda) "
                            f"integrations, got {props.get('IntegrationType')!r}")
    uri = props.get("IntegrationUri")
    match = _INTEGRATION_URI.match(uri) if isinstance(uri, str) else None
    target = match.group("fn") if match else uri
    for fn_id, fn in ctx.resolver.resources.items():
        if fn.get("Type") in ("AWS::Serverless::Function", "AWS::Lambda::Function") and \
                target in (ctx.resolver.arn(fn_id), ctx.resolver.physical_name(fn_id)):
            return fn_id
    raise TemplateError(f"{logical_id}.IntegrationUri: {uri!r} names no function of this template")


def _read_v2_integration(ctx: _Reading, logical_id: str, resource: dict[str, Any]) -> None:
    props = ctx.resolver.resolve(resource.get("Properties") or {}, logical_id) or {}
    if _websocket_api(ctx, props.get("ApiId"), f"{logical_id}.ApiId") is not None:
        _integration_function(ctx, logical_id)  # a dangling integration fails even if no route uses it


def _read_v2_route(ctx: _Reading, logical_id: str, resource: dict[str, Any]) -> None:
    props = ctx.resolver.resolve(resource.get("Properties") or {}, logical_id) or {}
    api = _websocket_api(ctx, props.get("ApiId"), f"{logical_id}.ApiId")
    if api is None:
        return
    route_key, target = props.get("RouteKey"), props.get("Target")
    if not isinstance(route_key, str) or not route_key:
        raise TemplateError(f"{logical_id}.RouteKey is missing")
    if not (isinstance(target, str) and target.startswith("integrations/")):
        raise TemplateError(f"{logical_id}.Target must be 'integrations/<id>', got {target!r}")
    integration_id = target.removeprefix("integrations/")
    integration = next((lid for lid, r in ctx.resolver.resources.items()
                        if r.get("Type") == "AWS::ApiGatewayV2::Integration"
                        and ctx.resolver.physical_name(lid) == integration_id), None)
    if integration is None:
        raise TemplateError(f"{logical_id}.Target: {target!r} is not an integration of this template")
    function = _integration_function(ctx, integration)
    if route_key in api.routes:
        raise TemplateError(f"{logical_id}: route {route_key!r} is declared twice on {api.logical_id}")
    ctx.out.websocket_apis[api.logical_id] = dataclasses.replace(api, routes=api.routes | {route_key: function})


def _read_v2_stage(ctx: _Reading, logical_id: str, resource: dict[str, Any]) -> None:
    props = ctx.resolver.resolve(resource.get("Properties") or {}, logical_id) or {}
    api = _websocket_api(ctx, props.get("ApiId"), f"{logical_id}.ApiId")
    if api is None or api.stage:
        return  # the local stack serves one stage per API: the first one declared
    name = props.get("StageName")
    if not isinstance(name, str) or not name or "/" in name:
        raise TemplateError(f"{logical_id}.StageName must be a name, got {name!r}")
    ctx.out.websocket_apis[api.logical_id] = dataclasses.replace(api, stage=name)


def _check_websocket_apis(out: StackTemplate) -> None:
    for api in out.websocket_apis.values():
        if not api.stage:
            raise TemplateError(f"WebSocket API {api.logical_id} has no AWS::ApiGatewayV2::Stage: "
                                "clients could not connect to it")


RESOURCE_READERS: dict[str, ResourceReader] = {
    "AWS::Serverless::Function": _read_function,
    "AWS::Serverless::HttpApi": _read_http_api,
    "AWS::S3::Bucket": _read_bucket,
    "AWS::SQS::Queue": _read_queue,
    "AWS::ApiGatewayV2::Api": _read_v2_api,
    "AWS::ApiGatewayV2::Integration": _read_v2_integration,
    "AWS::ApiGatewayV2::Route": _read_v2_route,
    "AWS::ApiGatewayV2::Stage": _read_v2_stage,
}
EVENT_READERS: dict[str, EventReader] = {
    "HttpApi": _read_http_api_event,
    "SQS": _read_sqs_event,
}


# ---------------------------------------------------------------------------------------------
# Parameters and the entry point


def resolve_parameters(declared: Mapping[str, Any], supplied: Mapping[str, str]) -> dict[str, str]:
    """Each declared parameter's value: supplied, else its Default; checked like CloudFormation does."""
    values: dict[str, str] = {}
    missing = []
    for name, spec in declared.items():
        spec = spec or {}
        if name in supplied:
            value = str(supplied[name])
        elif "Default" in spec:
            value = as_text(spec["Default"]) if spec["Default"] is not None else ""
        else:
            missing.append(name)
            continue
        if (allowed := spec.get("AllowedValues")) and value not in [str(a) for a in allowed]:
            raise TemplateError(f"parameter {name}: {value!r} is not one of {allowed}")
        if (min_length := spec.get("MinLength")) is not None and len(value) < int(min_length):
            raise TemplateError(f"parameter {name}: shorter than its MinLength {min_length}")
        values[name] = value
    if missing:
        raise TemplateError(
            f"no value for parameter(s) {', '.join(missing)}: they have no Default and the local stack "
            "does not supply them (pass --param NAME=VALUE)")
    return values


def load_template(path: Path, parameters: Mapping[str, str], *, stack_name: str = DEFAULT_STACK_NAME,
                  region: str = DEFAULT_REGION, account_id: str = DEFAULT_ACCOUNT_ID,
                  sqs_endpoint_url: str | None = None) -> StackTemplate:
    """Read and resolve a SAM template with the given parameter values.

    `sqs_endpoint_url` is where the stack's queues live: queue URLs (`!Ref` of a queue) are made on it.
    """
    path = path.resolve()
    data = load_yaml(path)
    values = resolve_parameters(data.get("Parameters") or {}, parameters)
    resolver = Resolver(data, values, stack_name, region, account_id, sqs_endpoint_url)
    out = StackTemplate(path, stack_name, region, account_id, values, resources=data["Resources"])
    ctx = _Reading(resolver, out, data.get("Globals") or {})
    # APIs first, so that routes can name them; then the rest in template order.
    for logical_id, resource in _ordered(data["Resources"]):
        if not isinstance(resource, dict) or "Type" not in resource:
            raise TemplateError(f"resource {logical_id} has no Type")
        if (condition := resource.get("Condition")) and not resolver.condition(condition):
            continue
        if reader := RESOURCE_READERS.get(resource["Type"]):
            reader(ctx, logical_id, resource)
    _check_websocket_apis(out)
    return out


def _ordered(resources: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    is_api = {k for k, v in resources.items() if isinstance(v, dict) and str(v.get("Type", "")).endswith("Api")}
    yield from ((k, v) for k, v in resources.items() if k in is_api)
    yield from ((k, v) for k, v in resources.items() if k not in is_api)
