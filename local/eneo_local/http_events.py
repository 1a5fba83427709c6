"""API Gateway HTTP API payload format 2.0: requests into events, function results into responses.

The shapes follow AWS's documentation of the Lambda proxy integration for HTTP APIs: header names
lower-cased with repeats joined by commas, cookies moved out of the headers into `cookies`,
`queryStringParameters` joined the same way, optional keys left out when empty, and the body
base64-encoded unless its content type is text. A result without `statusCode` is a 200 JSON body,
as API Gateway infers it; a result it cannot read is a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from eneo_local.routes import Match

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TEXT_TYPES = ("application/json", "application/xml", "application/javascript", "application/ecmascript",
               "application/graphql", "application/ld+json", "application/yaml", "application/x-yaml")
# Set by the server from the body it sends; a function's values for these would only disagree.
_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive"}


class MalformedResponse(ValueError):
    """The function's result is not something API Gateway can turn into a response (it answers 500)."""


@dataclass
class HttpRequest:
    """What the gateway read off the wire."""

    method: str
    raw_path: str  # percent-encoded, as sent
    raw_query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name]
        return ",".join(values) if values else None


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name), None)


def is_text(content_type: str | None) -> bool:
    if not content_type:
        return False
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime.startswith("text/") or mime in _TEXT_TYPES or mime.endswith(("+json", "+xml"))


def clf_time(epoch: float) -> str:
    """`12/Mar/2020:19:03:58 +0000`, whatever the locale."""
    t = time.gmtime(epoch)
    return f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"


def _joined(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in pairs:
        out[key] = f"{out[key]},{value}" if key in out else value
    return out


def build_event(request: HttpRequest, match: Match, *, api_id: str, account_id: str, request_id: str,
                domain_name: str, extra_headers: dict[str, str] | None = None,
                now: float | None = None) -> dict[str, Any]:
    """The payload v2.0 event for one request routed by `match`."""
    now = time.time() if now is None else now
    cookies: list[str] = []
    pairs: list[tuple[str, str]] = []
    for name, value in request.headers:
        name = name.lower()
        if name == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
        else:
            pairs.append((name, value))
    headers = _joined(pairs)
    headers.update(extra_headers or {})
    route_key = match.route.route_key
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if request.raw_query:
        params = _joined(parse_qsl(request.raw_query, keep_blank_values=True))
        if params:
            event["queryStringParameters"] = params
    event["requestContext"] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": domain_name,
        "domainPrefix": domain_name.split(".", 1)[0],
        "http": {
            "method": request.method,
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": clf_time(now),
        "timeEpoch": int(now * 1000),
    }
    if match.path_parameters:
        event["pathParameters"] = dict(match.path_parameters)
    if request.body:
        if is_text(headers.get("content-type")):
            try:
                event["body"], event["isBase64Encoded"] = request.body.decode("utf-8"), False
            except UnicodeDecodeError:
                event["body"], event["isBase64Encoded"] = base64.b64encode(request.body).decode(), True
        else:
            event["body"], event["isBase64Encoded"] = base64.b64encode(request.body).decode(), True
    else:
        event["isBase64Encoded"] = False
    return event


def to_response(result: Any) -> HttpResponse:
    """The HTTP response API Gateway makes of a function's (JSON-decoded) result."""
    if not (isinstance(result, dict) and "statusCode" in result):
        return HttpResponse(200, [("content-type", "application/json")], json.dumps(result).encode())
    status = result["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise MalformedResponse(f"statusCode {status!r} is not an HTTP status")
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        if str(name).lower() not in _HOP_BY_HOP:
            headers.append((str(name).lower(), _scalar(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        if str(name).lower() not in _HOP_BY_HOP:
            headers.extend((str(name).lower(), _scalar(v)) for v in (values or []))
    headers.extend(("set-cookie", _scalar(c)) for c in result.get("cookies") or [])
    body: Any = result.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        raise MalformedResponse("body must be a string")
    elif result.get("isBase64Encoded"):
        try:
            data = base64.b64decode(body, validate=True)
        except binascii.Error as exc:
            raise MalformedResponse("isBase64Encoded but the body is not base64") from exc
    else:
        data = body.encode("utf-8")
    return HttpResponse(status, headers, data)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        return str(value)
    raise MalformedResponse(f"header value {value!r} is not a string")


def message_response(status: int, message: str, headers: list[tuple[str, str]] | None = None) -> HttpResponse:
    """API Gateway's own answers: `{"message": "..."}`."""
    body = json.dumps({"message": message}).encode()
    return HttpResponse(status, [("content-type", "application/json"), *(headers or [])], body)
