"""The gateway and the function workers together: real worker processes behind a real HTTP server,
serving the echo function of tests/local/fixtures (no embedded services needed)."""

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from eneo_local.gateway import Gateway, GatewayServer
from eneo_local.template import load_template
from eneo_local.workers import FunctionHost

FIXTURES = Path(__file__).parent / "fixtures"
ORIGIN = "https://app.example.org"


@pytest.fixture(scope="module")
async def gateway() -> AsyncIterator[httpx.AsyncClient]:
    template = load_template(FIXTURES / "template.yaml", {"Secret": "s3cret-value"}, stack_name="t")
    os.environ["ENEO_TEST_SHELL_ONLY"] = "1"  # a developer's variable: functions must not see it
    try:
        functions = FunctionHost(template, {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"},
                                 max_concurrency=3)
    finally:
        del os.environ["ENEO_TEST_SHELL_ONLY"]
    assert await functions.start() == {"EchoFunction": True, "SlowFunction": True, "BrokenFunction": False}
    server = GatewayServer(port=0)
    try:
        url = await server.start(Gateway(template, functions))
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield client
    finally:
        await server.stop()
        await functions.close()
    assert all(pool.size == 0 for pool in functions.pools.values()), "every worker stopped"


async def echo(client: httpx.AsyncClient, method: str, url: str, **kw) -> dict:
    r = await client.request(method, url, **kw)
    assert r.status_code == 200, r.text
    return r.json()


async def test_request_becomes_a_v2_event(gateway: httpx.AsyncClient) -> None:
    seen = await echo(gateway, "GET", "/items/abc?x=1&x=2", headers={"Cookie": "a=1; b=2", "X-Thing": "t"})
    event = seen["event"]
    assert (event["version"], event["routeKey"], event["rawPath"], event["rawQueryString"]) == (
        "2.0", "ANY /items/{id}", "/items/abc", "x=1&x=2")
    assert event["pathParameters"] == {"id": "abc"}
    assert event["queryStringParameters"] == {"x": "1,2"}
    assert event["cookies"] == ["a=1", "b=2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-thing"] == "t"
    assert event["headers"]["x-forwarded-for"] == "127.0.0.1"
    context = event["requestContext"]
    assert context["http"] == {"method": "GET", "path": "/items/abc", "protocol": "HTTP/1.1",
                               "sourceIp": "127.0.0.1", "userAgent": gateway.headers["user-agent"]}
    assert (context["stage"], context["routeKey"], context["apiId"]) == ("$default", "ANY /items/{id}", "localapi")
    assert abs(context["timeEpoch"] / 1000 - time.time()) < 60


async def test_function_runs_like_lambda(gateway: httpx.AsyncClient) -> None:
    seen = await echo(gateway, "GET", "/items/abc")
    context = seen["context"]
    assert context["function_name"] == "t-echo"
    assert context["memory_limit_in_mb"] == "384"  # a string, as in Lambda's Python runtime
    assert context["invoked_function_arn"] == "arn:aws:lambda:eu-north-1:123456789012:function:t-echo"
    assert 0 < context["remaining_ms"] <= 10_000
    assert len(context["aws_request_id"]) == 36
    env = seen["env"]
    assert env["GREETING"] == "hello" and env["MODE"] == "function" and env["BUCKET"] == "t-uploadsbucket"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "t-echo" and env["AWS_REGION"] == "eu-north-1"
    assert "ENEO_TEST_SHELL_ONLY" not in env
    assert seen["cwd"] == str((FIXTURES / "echo").resolve())


async def test_trailing_slash_matches_and_raw_path_is_kept(gateway: httpx.AsyncClient) -> None:
    event = (await echo(gateway, "GET", "/items/"))["event"]
    assert (event["routeKey"], event["rawPath"]) == ("GET /items", "/items/")


async def test_no_route_is_404(gateway: httpx.AsyncClient) -> None:
    r = await gateway.get("/")
    assert (r.status_code, r.json()) == (404, {"message": "Not Found"})
    r = await gateway.post("/slow")  # GET /slow does not take it; ANY /{proxy+} does
    assert r.json()["event"]["routeKey"] == "ANY /{proxy+}"


async def test_bodies_text_and_binary(gateway: httpx.AsyncClient) -> None:
    event = (await echo(gateway, "POST", "/items", json={"name": "å"}))["event"]
    assert (event["isBase64Encoded"], json.loads(event["body"])) == (False, {"name": "å"})
    event = (await echo(gateway, "POST", "/items", content=b"\x00\xff",
                        headers={"content-type": "application/octet-stream"}))["event"]
    assert (event["isBase64Encoded"], event["body"]) == (True, "AP8=")


async def test_response_features(gateway: httpx.AsyncClient) -> None:
    r = await gateway.get("/binary")
    assert (r.status_code, r.headers["content-type"], r.content) == (200, "application/octet-stream", bytes(range(256)))
    r = await gateway.get("/cookies")
    assert r.status_code == 201
    assert r.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2"]
    assert r.headers.get_list("x-many") == ["x", "y"]
    r = await gateway.get("/raw")
    assert (r.status_code, r.headers["content-type"], r.json()) == (200, "application/json", {"hello": "world"})


async def test_handler_error_is_500_and_the_instance_stays_warm(gateway: httpx.AsyncClient) -> None:
    before = (await echo(gateway, "GET", "/items/x"))["pid"]
    r = await gateway.get("/boom")
    assert (r.status_code, r.json()) == (500, {"message": "Internal Server Error"})
    assert (await echo(gateway, "GET", "/items/x"))["pid"] == before


async def test_crash_is_500_and_the_instance_is_replaced(gateway: httpx.AsyncClient) -> None:
    before = await echo(gateway, "GET", "/items/x")
    r = await gateway.get("/crash")
    assert (r.status_code, r.json()) == (500, {"message": "Internal Server Error"})
    after = await echo(gateway, "GET", "/items/x")
    assert after["pid"] != before["pid"]


async def test_init_error_is_500_on_every_request(gateway: httpx.AsyncClient) -> None:
    for _ in range(2):  # each request retries the init, as Lambda does
        r = await gateway.get("/broken")
        assert (r.status_code, r.json()) == (500, {"message": "Internal Server Error"})


async def test_timeout_is_503_and_the_worker_is_replaced(gateway: httpx.AsyncClient) -> None:
    first = await echo(gateway, "GET", "/slow?seconds=0")
    t0 = time.monotonic()
    r = await gateway.get("/slow?seconds=5")  # SlowFunction's Timeout is 1 s
    assert (r.status_code, r.json()) == (503, {"message": "Service Unavailable"})
    assert time.monotonic() - t0 < 3
    after = await echo(gateway, "GET", "/slow?seconds=0")
    assert after["pid"] != first["pid"]
    assert after["started"] > first["started"], "a fresh instance (cold start)"


async def test_instances_scale_up_to_the_reserved_concurrency(gateway: httpx.AsyncClient) -> None:
    t0 = time.monotonic()
    replies = await asyncio.gather(*(echo(gateway, "GET", "/slow?seconds=0.4") for _ in range(4)))
    elapsed = time.monotonic() - t0
    assert len({r["pid"] for r in replies}) == 2, "ReservedConcurrentExecutions: 2"
    assert elapsed >= 0.8, "two rounds of two: one event at a time per instance"


async def test_request_id(gateway: httpx.AsyncClient) -> None:
    r = await gateway.get("/items/x", headers={"X-Request-Id": "client-id-1"})
    assert r.headers["x-request-id"] == "client-id-1"
    assert r.json()["event"]["headers"]["x-request-id"] == "client-id-1"
    r = await gateway.get("/items/x", headers={"X-Request-Id": "bad id\twith junk"})
    generated = r.headers["x-request-id"]
    assert generated != "bad id\twith junk" and r.json()["event"]["headers"]["x-request-id"] == generated
    r = await gateway.get("/items/x")
    assert r.headers["x-request-id"] == r.json()["event"]["requestContext"]["requestId"]


async def test_payload_limits(gateway: httpx.AsyncClient) -> None:
    too_large = (413, {"message": "Request Entity Too Large"})
    r = await gateway.post("/items", content=b"x" * (10 * 1024 * 1024 + 1))  # API Gateway's limit
    assert (r.status_code, r.json()) == too_large
    r = await gateway.post("/items", content=b"x" * (7 * 1024 * 1024), headers={"content-type": "text/plain"})
    assert (r.status_code, r.json()) == too_large, "Lambda's 6 MB limit on the event"
    r = await gateway.get("/big")
    assert (r.status_code, r.json()) == (500, {"message": "Internal Server Error"}), "and on the result"


async def test_cors_preflight_and_responses(gateway: httpx.AsyncClient) -> None:
    r = await gateway.options("/items/x", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert r.headers["access-control-allow-methods"] == "GET,POST,DELETE"
    assert r.headers["access-control-allow-headers"] == "authorization,content-type"
    assert r.headers["access-control-max-age"] == "600"
    r = await gateway.options("/items/x", headers={"Origin": "https://evil.example",
                                                   "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204 and "access-control-allow-origin" not in r.headers
    r = await gateway.get("/cors", headers={"Origin": ORIGIN})
    assert r.headers.get_list("access-control-allow-origin") == [ORIGIN], "the function's own header replaced"
    assert r.headers["access-control-expose-headers"] == "X-Request-Id"
    r = await gateway.get("/cors")
    assert "access-control-allow-origin" not in r.headers


async def test_one_log_line_per_request_without_secrets(gateway: httpx.AsyncClient,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="eneo_local.gateway"):
        await gateway.post("/items/x?token=query-secret", content=b"body-secret",
                           headers={"Authorization": "Bearer header-secret"})
    lines = [r for r in caplog.records if r.name == "eneo_local.gateway" and r.getMessage() == "request"]
    assert len(lines) == 1
    line = lines[0].__dict__
    assert (line["method"], line["route"], line["status"]) == ("POST", "ANY /items/{id}", 200)
    assert isinstance(line["ms"], float)
    text = " ".join(f"{k}={v}" for k, v in line.items())
    for secret in ("query-secret", "body-secret", "header-secret"):
        assert secret not in text
