"""Reading a WebSocket API (raw AWS::ApiGatewayV2 resources) and EventInvokeConfig from a template."""

from pathlib import Path

import pytest

from eneo_local.intrinsics import TemplateError, load_yaml
from eneo_local.parameters import local_parameters
from eneo_local.schedules import schedules_of
from eneo_local.services import Endpoints
from eneo_local.template import load_template

FIXTURE = Path(__file__).parent / "fixtures" / "websocket" / "template.yaml"
ROOT_TEMPLATE = Path(__file__).parents[2] / "template.yaml"
PARAMS = {"RecordDir": "records", "WebSocketManagementUrl": "http://127.0.0.1:1/live"}


def variant(tmp_path: Path, old: str, new: str) -> Path:
    text = FIXTURE.read_text()
    assert old in text
    path = tmp_path / "template.yaml"
    path.write_text(text.replace(old, new))
    return path


def test_websocket_api_routes_lead_to_the_integrations_function() -> None:
    template = load_template(FIXTURE, PARAMS, stack_name="t")
    (api,) = template.websocket_apis.values()
    assert (api.logical_id, api.api_id, api.stage) == ("Api", "localapi", "live")
    assert api.route_selection_expression == "$request.body.action" and api.selection_path == ("action",)
    assert api.routes == {key: "WsFunction" for key in ("$connect", "$disconnect", "$default", "echo", "later")}
    assert template.functions["WsFunction"].environment["WEBSOCKET_MANAGEMENT_URL"] == "http://127.0.0.1:1/live"
    assert template.functions["WsFunction"].environment["WORKER_FUNCTION"] == "t-worker"


def test_event_invoke_config() -> None:
    functions = load_template(FIXTURE, PARAMS, stack_name="t").functions
    assert (functions["WorkerFunction"].async_retries, functions["WorkerFunction"].async_max_age) == (2, 21600)
    assert functions["OnceFunction"].async_retries == 0


@pytest.mark.parametrize(("old", "new", "message"), [
    ("functions/${WsFunction.Arn}/invocations",
     "functions/arn:aws:lambda:eu-north-1:123456789012:function:t-gone/invocations",
     r"Integration.IntegrationUri: .*t-gone.* names no function of this template"),
    ("functions/${WsFunction.Arn}/invocations", "functions/${Missing.Arn}/invocations",
     r"Integration: Fn::GetAtt of unknown resource 'Missing'"),
    ('RouteKey: echo, Target: !Sub "integrations/${Integration}"', "RouteKey: echo, Target: integrations/abc123",
     r"EchoRoute.Target: 'integrations/abc123' is not an integration of this template"),
    ("RouteKey: later", "RouteKey: echo", r"LaterRoute: route 'echo' is declared twice on Api"),
    ("StageName: live", "StageName: ''", r"Stage.StageName must be a name"),
    ('RouteSelectionExpression: "$request.body.action"', 'RouteSelectionExpression: "$request.header.x"',
     r"Api.RouteSelectionExpression: the local stack reads"),
    ("IntegrationType: AWS_PROXY", "IntegrationType: HTTP_PROXY", r"hosts AWS_PROXY \(Lambda\) integrations"),
])
def test_dangling_or_unsupported_references_fail_clearly(tmp_path: Path, old: str, new: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        load_template(variant(tmp_path, old, new), PARAMS, stack_name="t")


def test_a_websocket_api_without_a_stage_fails(tmp_path: Path) -> None:
    path = variant(tmp_path, "  Stage:\n    Type: AWS::ApiGatewayV2::Stage\n", "  Stage:\n    Type: Custom::Nothing\n")
    with pytest.raises(TemplateError, match="WebSocket API Api has no AWS::ApiGatewayV2::Stage"):
        load_template(path, PARAMS, stack_name="t")


def test_the_project_templates_websocket_api() -> None:
    declared = load_yaml(ROOT_TEMPLATE).get("Parameters") or {}
    params = {name: "x" * 40 for name, spec in declared.items() if "Default" not in (spec or {})}
    template = load_template(ROOT_TEMPLATE, params)
    assert set(template.websocket_apis) == {"WebSocketApi"}
    api = template.websocket_apis["WebSocketApi"]
    assert api.stage == "live"
    assert api.routes == {key: "WsFunction" for key in ("$connect", "$disconnect", "subscribe", "subscribe_events",
                                                        "$default")}
    # complete raises only while a dependency is down before the answer starts: retried, and the claim keeps a
    # retry from answering twice (eneo.answers.service)
    assert template.functions["CompleteFunction"].async_retries == 2
    # The two functions that wait minutes between transactions hold no idle connection (DB_POOL=null);
    # the Globals' variables still reach them, and request handlers keep their warm pool.
    for name in ("CompleteFunction", "WsFunction"):
        env = template.functions[name].environment
        assert (env["DB_POOL"], "DATABASE_URL" in env) == ("null", True), name
    assert all("DB_POOL" not in f.environment for n, f in template.functions.items()
               if n not in ("CompleteFunction", "WsFunction"))
    # Writers of a stream wake the relays parked on it with an invoke of the ws function, and its schedule
    # sweeps what a failed invoke left (eneo.core.parking).
    ws = template.functions["WsFunction"]
    assert {f.environment.get("WS_FUNCTION_NAME") for f in template.functions.values()} == {ws.name}
    assert [(s.event, s.period) for s in schedules_of(template) if s.function == "WsFunction"] == [("SweepParked", 60)]


def test_the_stack_tells_the_websocket_function_its_management_endpoint(tmp_path: Path) -> None:
    endpoints = Endpoints("postgresql+psycopg://app@/eneo", "postgresql+psycopg://owner@/eneo", "unix:///r.sock",
                          "http://127.0.0.1:5000")
    params = local_parameters(endpoints, tmp_path, env={}, ws_management_url="http://127.0.0.1:8001/live")
    template = load_template(FIXTURE, params | {"RecordDir": "records"}, stack_name="t")
    assert template.functions["WsFunction"].environment["WEBSOCKET_MANAGEMENT_URL"] == "http://127.0.0.1:8001/live"
    assert "WebSocketManagementUrl" not in local_parameters(endpoints, tmp_path, env={})
