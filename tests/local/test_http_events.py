"""The payload v2.0 event and the response mapping, checked against AWS's documented shapes and
against Mangum + FastAPI, which must read the event as a browser's request."""

import base64
import json
from types import SimpleNamespace
from typing import Annotated

import pytest
from fastapi import Cookie, FastAPI, Form, Request
from mangum import Mangum

from eneo_local.http_events import HttpRequest, MalformedResponse, build_event, clf_time, to_response
from eneo_local.routes import Match
from eneo_local.template import HttpRoute

ROUTE = HttpRoute("Api", "ANY", "/api/v1/spaces/{proxy+}", "SpacesFunction", "Spaces")
NOW = 1_583_348_638.390


def request(method: str = "GET", path: str = "/api/v1/spaces/s1/members", query: str = "",
            headers: list[tuple[str, str]] | None = None, body: bytes = b"") -> HttpRequest:
    return HttpRequest(method, path, query, headers or [("Host", "127.0.0.1:8000")], body, "192.0.2.1")


def event_for(req: HttpRequest, params: dict[str, str] | None = None) -> dict:
    return build_event(req, Match(ROUTE, params if params is not None else {"proxy": "s1/members"}),
                       api_id="localhttpapi", account_id="123456789012", request_id="req-1",
                       domain_name="127.0.0.1", extra_headers={"x-forwarded-proto": "http"}, now=NOW)


def test_event_shape() -> None:
    event = event_for(request(query="a=1&a=2&b=&c=%20x", headers=[
        ("Host", "127.0.0.1:8000"), ("User-Agent", "curl/8"), ("Accept", "text/html"), ("accept", "*/*"),
        ("Cookie", "s=1; t=2"), ("X-Custom", "v")]))
    assert event == {
        "version": "2.0",
        "routeKey": "ANY /api/v1/spaces/{proxy+}",
        "rawPath": "/api/v1/spaces/s1/members",
        "rawQueryString": "a=1&a=2&b=&c=%20x",
        "cookies": ["s=1", "t=2"],
        "headers": {"host": "127.0.0.1:8000", "user-agent": "curl/8", "accept": "text/html,*/*",
                    "x-custom": "v", "x-forwarded-proto": "http"},
        "queryStringParameters": {"a": "1,2", "b": "", "c": " x"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "localhttpapi", "domainName": "127.0.0.1",
            "domainPrefix": "127",
            "http": {"method": "GET", "path": "/api/v1/spaces/s1/members", "protocol": "HTTP/1.1",
                     "sourceIp": "192.0.2.1", "userAgent": "curl/8"},
            "requestId": "req-1", "routeKey": "ANY /api/v1/spaces/{proxy+}", "stage": "$default",
            "time": "04/Mar/2020:19:03:58 +0000", "timeEpoch": 1583348638390,
        },
        "pathParameters": {"proxy": "s1/members"},
        "isBase64Encoded": False,
    }


def test_optional_keys_are_left_out() -> None:
    event = event_for(request(path="/api/v1/spaces"), params={})
    assert not {"cookies", "queryStringParameters", "pathParameters", "body"} & set(event)
    assert event["rawQueryString"] == ""


@pytest.mark.parametrize(("content_type", "encoded"), [
    ("application/json", False), ("text/plain; charset=utf-8", False), ("application/problem+json", False),
    ("application/octet-stream", True), ("application/x-www-form-urlencoded", True), (None, True),
])
def test_body_is_base64_unless_text(content_type: str | None, encoded: bool) -> None:
    headers = [("Host", "h")] + ([("Content-Type", content_type)] if content_type else [])
    event = event_for(request("POST", headers=headers, body=b'{"x": 1}'))
    assert event["isBase64Encoded"] is encoded
    assert (base64.b64decode(event["body"]) if encoded else event["body"].encode()) == b'{"x": 1}'


def test_clf_time_is_locale_free() -> None:
    assert clf_time(0) == "01/Jan/1970:00:00:00 +0000"


# Mangum + FastAPI read the event as the request it came from -----------------------------------

app = FastAPI()


@app.api_route("/api/v1/spaces/{space}/members", methods=["GET", "POST"])
async def members(space: str, request: Request, s: Annotated[str | None, Cookie()] = None) -> dict:
    body = await request.body()
    return {"space": space, "method": request.method, "query": list(request.query_params.multi_items()),
            "cookie": s, "body": body.decode(), "host": request.url.hostname, "scheme": request.url.scheme,
            "client": request.client.host if request.client else None}


@app.post("/api/v1/spaces/login")
async def login(username: Annotated[str, Form()], password: Annotated[str, Form()]) -> dict:
    return {"username": username, "password_length": len(password)}


handler = Mangum(app, lifespan="off")
CONTEXT = SimpleNamespace(aws_request_id="x", get_remaining_time_in_millis=lambda: 1000)


def test_mangum_reads_the_event() -> None:
    event = event_for(request("POST", query="q=1&q=2", body=b"hello", headers=[
        ("Host", "127.0.0.1:8000"), ("Cookie", "s=abc"), ("Content-Type", "application/octet-stream")]))
    result = json.loads(json.dumps(handler(event, CONTEXT)))  # as it crosses Lambda's API
    response = to_response(result)
    assert response.status == 200
    assert json.loads(response.body) == {
        "space": "s1", "method": "POST", "query": [["q", "1"], ["q", "2"]], "cookie": "abc",
        "body": "hello", "host": "127.0.0.1", "scheme": "http", "client": "192.0.2.1"}


def test_mangum_reads_a_login_form() -> None:
    form = b"username=admin%40example.org&password=p%C3%A5ss+word"
    event = event_for(request("POST", path="/api/v1/spaces/login", body=form, headers=[
        ("Host", "h"), ("Content-Type", "application/x-www-form-urlencoded")]), params={"proxy": "login"})
    response = to_response(handler(event, CONTEXT))
    assert json.loads(response.body) == {"username": "admin@example.org", "password_length": len("påss word")}


# Results into responses --------------------------------------------------------------------


def test_structured_result() -> None:
    response = to_response({
        "statusCode": 201, "headers": {"Content-Type": "text/plain", "Content-Length": "999", "X-A": "1"},
        "multiValueHeaders": {"x-b": ["1", "2"]}, "cookies": ["a=1; Path=/", "b=2"], "body": "héllo"})
    assert response.status == 201
    assert response.headers == [("content-type", "text/plain"), ("x-a", "1"), ("x-b", "1"), ("x-b", "2"),
                                ("set-cookie", "a=1; Path=/"), ("set-cookie", "b=2")]
    assert response.body == "héllo".encode()


def test_base64_result_and_empty_body() -> None:
    data = bytes(range(256))
    assert to_response({"statusCode": 200, "body": base64.b64encode(data).decode(),
                        "isBase64Encoded": True}).body == data
    assert to_response({"statusCode": 204}).body == b""


def test_result_without_status_code_is_json() -> None:
    response = to_response({"hello": "world"})
    assert (response.status, response.headers, json.loads(response.body)) == (
        200, [("content-type", "application/json")], {"hello": "world"})


@pytest.mark.parametrize("result", [
    {"statusCode": "abc"}, {"statusCode": 99}, {"statusCode": 200, "body": {"not": "a string"}},
    {"statusCode": 200, "body": "***", "isBase64Encoded": True}, {"statusCode": 200, "headers": {"x": ["a"]}},
])
def test_malformed_results(result: dict) -> None:
    with pytest.raises(MalformedResponse):
        to_response(result)
