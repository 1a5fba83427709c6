"""The local WebSocket API: real worker processes behind the WebSocket gateway, a real `websockets`
client, and the functions answering through boto3's `apigatewaymanagementapi` (no services needed).

The function of tests/local/fixtures/websocket records every event it gets in a file, so the tests
see what a function saw, and answers by posting to the connection, as a real one does.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from eneo_local.gateway import GatewayServer
from eneo_local.lambda_api import AsyncInvoker, LambdaApi
from eneo_local.template import load_template
from eneo_local.websocket import SERVER_OPTIONS, WebSocketGateway
from eneo_local.workers import FunctionHost

FIXTURE = Path(__file__).parent / "fixtures" / "websocket" / "template.yaml"
WAIT = 15.0


@dataclass
class WsStack:
    url: str  # ws://127.0.0.1:<port>/live
    management_url: str
    record: Path
    gateway: WebSocketGateway

    def management(self) -> Any:
        return boto3.client("apigatewaymanagementapi", endpoint_url=self.management_url, region_name="eu-north-1",
                            aws_access_key_id="local", aws_secret_access_key="local",
                            config=Config(retries={"max_attempts": 1}))

    def events(self, connection_id: str | None = None) -> list[dict[str, Any]]:
        path = self.record / "ws-events.jsonl"
        lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        return [e for e in lines if connection_id is None or e["connectionId"] == connection_id]

    async def wait_for_event(self, connection_id: str, route_key: str) -> list[dict[str, Any]]:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            found = [e for e in self.events(connection_id) if e["routeKey"] == route_key]
            if found:
                await asyncio.sleep(0.3)  # a second one, if there were one, would be here by now
                return [e for e in self.events(connection_id) if e["routeKey"] == route_key]
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {route_key} event for {connection_id}")


@pytest.fixture(scope="module")
async def ws(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[WsStack]:
    record = tmp_path_factory.mktemp("ws-record")
    ws_server, lambda_server = GatewayServer(port=0), GatewayServer(port=0)
    ws_port, lambda_port = ws_server.bind(), lambda_server.bind()
    management_url = f"http://127.0.0.1:{ws_port}/live"
    template = load_template(FIXTURE, {"RecordDir": str(record), "WebSocketManagementUrl": management_url},
                             stack_name="t")
    functions = FunctionHost(template, {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                                        "AWS_ENDPOINT_URL_LAMBDA": f"http://127.0.0.1:{lambda_port}"},
                             max_concurrency=3)
    invoker = AsyncInvoker(functions, retry_delays=(0.1, 0.2))
    gateway = WebSocketGateway(template, functions)
    try:
        assert all((await functions.start()).values())
        await lambda_server.start(LambdaApi(template, functions, invoker))
        await ws_server.start(gateway, **SERVER_OPTIONS)
        yield WsStack(f"ws://127.0.0.1:{ws_port}/live", management_url, record, gateway)
    finally:
        await ws_server.stop()
        await gateway.close()
        await lambda_server.stop()
        await invoker.close()
        await functions.close()


async def recv(client: ClientConnection) -> str:
    message = await asyncio.wait_for(client.recv(), WAIT)
    assert isinstance(message, str), "frames posted as UTF-8 arrive as text"
    return message


async def connection_id(client: ClientConnection) -> str:
    await client.send("id")
    return await recv(client)


async def test_connect_refused_with_the_functions_status(ws: WsStack) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{ws.url}?deny=401"):
            pass
    assert refused.value.response.status_code == 401
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{ws.url}?deny=403"):
            pass
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as wrong_stage:
        async with connect(ws.url.replace("/live", "/prod")):
            pass
    assert wrong_stage.value.response.status_code == 403


async def test_connect_event_has_api_gateways_shape(ws: WsStack) -> None:
    async with connect(f"{ws.url}?token=t0k&x=1&x=2", additional_headers={"X-Thing": "t"},
                       user_agent_header="tests/1.0") as client:
        conn_id = await connection_id(client)
    (connected,) = [e["event"] for e in ws.events(conn_id) if e["routeKey"] == "$connect"]
    context = connected["requestContext"]
    assert (context["eventType"], context["routeKey"], context["stage"], context["messageDirection"]) == (
        "CONNECT", "$connect", "live", "IN")
    assert context["connectionId"] == conn_id and len(conn_id) == 16 and conn_id.endswith("=")
    assert context["apiId"] == "localapi" and context["domainName"] == "127.0.0.1"
    assert context["identity"] == {"sourceIp": "127.0.0.1", "userAgent": "tests/1.0"}
    assert abs(context["connectedAt"] / 1000 - time.time()) < 60 and context["requestTimeEpoch"] >= context[
        "connectedAt"]
    assert context["requestId"] and context["extendedRequestId"] == context["requestId"]
    assert connected["queryStringParameters"] == {"token": "t0k", "x": "2"}
    assert connected["multiValueQueryStringParameters"] == {"token": ["t0k"], "x": ["1", "2"]}
    headers = connected["headers"]
    assert headers["X-Thing"] == "t" and headers["Sec-WebSocket-Version"] == "13" and "Sec-WebSocket-Key" in headers
    assert headers["Host"] == ws.url.split("/")[2] and headers["X-Forwarded-For"] == "127.0.0.1"
    assert connected["multiValueHeaders"]["X-Thing"] == ["t"]
    assert connected["isBase64Encoded"] is False


async def test_messages_route_by_action_and_fall_back_to_default(ws: WsStack) -> None:
    async with connect(ws.url) as client:
        conn_id = await connection_id(client)
        await client.send(json.dumps({"action": "echo", "n": 3, "text": "a"}))
        assert [await recv(client) for _ in range(3)] == ["a-0", "a-1", "a-2"]
        await client.send("not json")
        assert await recv(client) == "default:not json"
        await client.send(json.dumps({"action": "nope"}))
        assert await recv(client) == 'default:{"action": "nope"}'
        await client.send(json.dumps({"action": "$connect"}))
        assert await recv(client) == 'default:{"action": "$connect"}', "a body cannot pick a $ route"
    messages = [e for e in ws.events(conn_id) if e["eventType"] == "MESSAGE"]
    assert [e["routeKey"] for e in messages] == ["$default", "echo", "$default", "$default", "$default"]
    echo = messages[1]["event"]
    assert echo["body"] == json.dumps({"action": "echo", "n": 3, "text": "a"}) and echo["isBase64Encoded"] is False
    assert echo["requestContext"]["messageId"] and "queryStringParameters" not in echo


async def test_a_body_nested_deeper_than_json_parsers_go_routes_to_default(ws: WsStack) -> None:
    """Route selection parses the body: one nested past Python's recursion limit is not JSON to it, not a crash."""
    nested = "[" * 50_000 + "]" * 50_000
    async with connect(ws.url) as client:
        await client.send(nested)
        assert await recv(client) == f"default:{nested}"
        await client.send(json.dumps({"action": "echo", "n": 1, "text": "still here"}))
        assert await recv(client) == "still here-0"


async def test_posts_reach_the_client_in_order_while_invokes_run_concurrently(ws: WsStack) -> None:
    async with connect(ws.url) as client:
        t0 = time.monotonic()
        await client.send(json.dumps({"action": "echo", "n": 1, "text": "slow", "sleep": 1.5}))
        await client.send(json.dumps({"action": "echo", "n": 60, "text": "m"}))
        received = [await recv(client) for _ in range(61)]
        assert "slow-0" in received
        assert [m for m in received if m.startswith("m-")] == [f"m-{i}" for i in range(60)]
        assert time.monotonic() - t0 < 1.5 + 3, "the second message did not wait for the first invoke"


async def test_function_error_is_reported_to_the_client(ws: WsStack) -> None:
    async with connect(ws.url) as client:
        conn_id = await connection_id(client)
        await client.send("boom")
        error = json.loads(await recv(client))
        assert error["message"] == "Internal server error" and error["connectionId"] == conn_id
        assert error["requestId"]
        await client.send("still here")
        assert await recv(client) == "default:still here"


async def test_gone_after_the_client_left_and_disconnect_runs_once(ws: WsStack) -> None:
    async with connect(ws.url) as client:
        conn_id = await connection_id(client)
    (gone,) = await ws.wait_for_event(conn_id, "$disconnect")
    context = gone["event"]["requestContext"]
    assert (context["eventType"], context["disconnectStatusCode"]) == ("DISCONNECT", 1000)
    assert context["connectionId"] == conn_id
    client_api = ws.management()
    with pytest.raises(client_api.exceptions.GoneException):
        await asyncio.to_thread(client_api.post_to_connection, ConnectionId=conn_id, Data=b"late")
    with pytest.raises(client_api.exceptions.GoneException):
        await asyncio.to_thread(client_api.get_connection, ConnectionId=conn_id)


async def test_management_api_describes_and_deletes_a_connection(ws: WsStack) -> None:
    client_api = ws.management()
    async with connect(ws.url, user_agent_header="tests/2.0") as client:
        conn_id = await connection_id(client)
        info = await asyncio.to_thread(client_api.get_connection, ConnectionId=conn_id)
        assert info["Identity"] == {"SourceIp": "127.0.0.1", "UserAgent": "tests/2.0"}
        assert abs(info["ConnectedAt"].timestamp() - time.time()) < 60
        assert info["LastActiveAt"] >= info["ConnectedAt"]
        await asyncio.to_thread(client_api.post_to_connection, ConnectionId=conn_id, Data=b"from outside")
        assert await recv(client) == "from outside"
        with pytest.raises(client_api.exceptions.PayloadTooLargeException):
            await asyncio.to_thread(client_api.post_to_connection, ConnectionId=conn_id, Data=b"x" * (129 * 1024))
        await asyncio.to_thread(client_api.delete_connection, ConnectionId=conn_id)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(client.recv(), WAIT)
    (gone,) = await ws.wait_for_event(conn_id, "$disconnect")
    assert gone["event"]["requestContext"]["disconnectStatusCode"] == 1000


async def test_frames_aws_refuses_close_the_connection(ws: WsStack) -> None:
    async with connect(ws.url, max_size=None) as client:
        await client.send(b"\x00binary")
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(client.recv(), WAIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003
    async with connect(ws.url) as client:
        await client.send("x" * (128 * 1024 + 1))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(client.recv(), WAIT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_a_function_invokes_another_asynchronously_through_the_lambda_api(ws: WsStack) -> None:
    async with connect(ws.url) as client:
        await client.send(json.dumps({"action": "later", "text": "hi"}))
        assert await recv(client) == "later:hi"


async def test_subprotocol_chosen_by_the_connect_function(ws: WsStack) -> None:
    async with connect(ws.url, subprotocols=["eneo.v1"]) as client:  # type: ignore[list-item]
        assert client.subprotocol == "eneo.v1"


async def test_idle_connections_are_closed(ws: WsStack) -> None:
    ws.gateway.idle_seconds = 0.5
    try:
        async with connect(ws.url) as client:
            conn_id = await connection_id(client)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(client.recv(), WAIT)
    finally:
        ws.gateway.idle_seconds = 600
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    (gone,) = await ws.wait_for_event(conn_id, "$disconnect")
    assert gone["event"]["requestContext"]["disconnectStatusCode"] == 1001
