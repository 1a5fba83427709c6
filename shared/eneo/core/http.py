"""The FastAPI app every HTTP function is built from: errors, request ids, logs, health.

A function's app.py is then three lines: build the app from its domain routers, wrap it in Mangum.
"""

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from eneo.core.errors import AppError
from eneo.core.health import unavailable
from eneo.core.logging import configure_logging, request_id_var, source_ip_var
from eneo.core.settings import get_settings

log = logging.getLogger("eneo.http")

# Starlette's own errors. Its only 400 is a body it could not parse (a multipart form without a boundary, a part
# over the limits): `malformed_body`, with Starlette's message saying what was wrong.
_HTTP_CODES = {400: "malformed_body", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type"}
# Answers carry tokens and personal data: no cache may keep them, no browser may second-guess their type,
# frame them or tell another site where they came from. The API serves no page, so its policy allows nothing:
# an HTML body (an error echoing input, a future page) can run no script and load nothing.
_SAFE_DEFAULTS = [
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
]
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._=-]{1,128}$")


def _hsts(scope: Scope, max_age: int) -> list[tuple[bytes, bytes]]:
    """Strict-Transport-Security for requests that came over https (API Gateway says so in X-Forwarded-Proto;
    browsers ignore the header over http anyway, and the local stack serves http)."""
    if max_age <= 0:
        return []
    proto = dict(scope.get("headers") or []).get(b"x-forwarded-proto", b"").decode("latin-1").lower()
    if scope.get("scheme") != "https" and proto != "https":
        return []
    return [(b"strict-transport-security", f"max-age={max_age}; includeSubDomains".encode())]


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details or [], "request_id": request_id_var.get()}


def _field(loc: Sequence[int | str]) -> str:
    """`("body", "members", 0, "role")` → `members[0].role`; query/path params keep their name."""
    parts = list(loc[1:]) if loc and loc[0] in ("body", "query", "path", "header", "form") else list(loc)
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or str(loc[0] if loc else "body")


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return JSONResponse(error_body(exc.code, exc.message, exc.details), exc.status, headers=exc.headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [{"field": _field(e["loc"]), "message": e["msg"], "type": e["type"]} for e in exc.errors()]
    message = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
    return JSONResponse(error_body("validation_error", f"Invalid request: {message}", details), 422)


# What FastAPI's catch-all for a body it could not read hides (`raise HTTPException(400) from error`). JSON that
# does not parse is a 422 `json_invalid` there already; bytes that are not UTF-8 and nesting deeper than the
# parser's recursion limit are the same mistake, so they answer the same way.
_UNREADABLE_JSON = {UnicodeDecodeError: "the body is not UTF-8 text",
                    RecursionError: "the body's JSON is nested too deeply"}


def _unreadable_json(exc: StarletteHTTPException) -> JSONResponse | None:
    reason = next((why for kind, why in _UNREADABLE_JSON.items() if isinstance(exc.__cause__, kind)), None)
    if exc.status_code != 400 or reason is None:
        return None
    details = [{"field": "body", "message": f"JSON decode error: {reason}", "type": "json_invalid"}]
    return JSONResponse(error_body("validation_error", f"Invalid request: body: JSON decode error: {reason}",
                                   details), 422)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if (unreadable := _unreadable_json(exc)) is not None:
        return unreadable
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "Request failed"
    if exc.status_code == 404 and message == "Not Found":
        message = "No such route"
    return JSONResponse(error_body(code, message), exc.status_code, headers=exc.headers)


async def _gone(_: Request, exc: Exception) -> JSONResponse:
    """A row this request read was deleted by a concurrent request before its UPDATE (StaleDataError: 0 rows
    matched) or before an attribute was loaded (ObjectDeletedError). The same request a moment later gets 404,
    so this one does too; its transaction has been rolled back."""
    log.info("row deleted concurrently", extra={"error": type(exc).__name__})
    return JSONResponse(error_body("not_found", "Not found: it was deleted while this request ran"), 404)


class RequestContextMiddleware:
    """Request id (client's, or API Gateway's, or new) into logs and the response; one access log line;
    safe default headers."""

    def __init__(self, app: ASGIApp, hsts_max_age: int = 0) -> None:
        self.app = app
        self.hsts_max_age = hsts_max_age

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        defaults = _SAFE_DEFAULTS + _hsts(scope, self.hsts_max_age)
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")
        if not _REQUEST_ID.match(rid):
            event = scope.get("aws.event") or {}
            rid = (event.get("requestContext") or {}).get("requestId") or uuid.uuid4().hex
        token = request_id_var.set(rid)
        ip_token = source_ip_var.set((scope.get("client") or (None,))[0])
        start = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers") or [])
                names = {name.lower() for name, _ in headers}
                headers.append((b"x-request-id", rid.encode()))
                headers += [(k, v) for k, v in defaults if k not in names]
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Caught here rather than by Starlette's outermost handler, so the answer still carries
            # the request id that the log line has.
            if (down := unavailable(exc)) is not None:  # Postgres or Redis unreachable: 503, not a bug
                log.warning("dependency unavailable", extra={"code": down.code, "error": type(exc).__name__})
                response = JSONResponse(error_body(down.code, down.message), down.status, headers=down.headers)
            else:
                log.exception("unhandled error")
                body = error_body("internal_error", "Something went wrong on our side; quote the request id")
                response = JSONResponse(body, 500)
            if status == 0:
                await response(scope, receive, send_with_id)
        finally:
            log.info("request", extra={"method": scope["method"], "path": scope["path"], "status": status,
                                       "ms": round((time.perf_counter() - start) * 1000, 1)})
            request_id_var.reset(token)
            source_ip_var.reset(ip_token)


class TrailingSlashMiddleware:
    """Serve `/x` and `/x/` alike without a redirect (a 307 on POST would make API clients resend)."""

    def __init__(self, app: ASGIApp, router_app: FastAPI) -> None:
        self.app = app
        self.router_app = router_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].endswith("/"):
            from starlette.routing import Match

            if not any(r.matches(scope)[0] == Match.FULL for r in self.router_app.router.routes):
                scope = {**scope, "path": scope["path"] + "/"}
        await self.app(scope, receive, send)


def create_app(service: str, routers: Sequence[APIRouter],
               health_checks: dict[str, Callable[[], Awaitable[None]]] | None = None) -> FastAPI:
    settings = get_settings()
    configure_logging(service, settings.log_level)
    settings.require_secrets()
    # No Swagger UI page: FastAPI's loads its scripts from a CDN without integrity checks, and a page that runs
    # scripts would need a weaker policy than the API's. The OpenAPI JSON is the contract; any OpenAPI tool reads it.
    app = FastAPI(title=f"Eneo {service}", version="1", redirect_slashes=False,
                  openapi_url=f"/api/v1/docs/{service}/openapi.json", docs_url=None, redoc_url=None,
                  swagger_ui_oauth2_redirect_url=None)
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(StaleDataError, _gone)
    app.add_exception_handler(ObjectDeletedError, _gone)
    for router in routers:
        app.include_router(router)
    checks = health_checks or {}

    @app.get(f"/api/v1/health/{service}", tags=["health"], include_in_schema=False)
    async def health() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await check()
                results[name] = "ok"
            except Exception as exc:
                log.warning("health check failed", extra={"check": name, "error": type(exc).__name__})
                results[name] = "unavailable"
        ok = all(v == "ok" for v in results.values())
        return JSONResponse({"status": "ok" if ok else "degraded", "service": service, "checks": results},
                            200 if ok else 503)

    app.add_middleware(TrailingSlashMiddleware, router_app=app)
    app.add_middleware(RequestContextMiddleware, hsts_max_age=settings.hsts_max_age_seconds)
    return app
