"""One error model for the whole platform.

Services raise these; the HTTP adapter (eneo.core.http) turns them into
`{"code", "message", "details", "request_id"}` with the status below. `code` is stable and
machine-readable; `message` is for people and never contains secrets or document content.
"""

from typing import Any


class AppError(Exception):
    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details or []
        self.headers = headers or {}


class BadRequest(AppError):
    status, code = 400, "bad_request"


class ValidationFailed(AppError):
    status, code = 422, "validation_error"


class Unauthorized(AppError):
    status, code = 401, "unauthorized"

    def __init__(self, message: str = "Authentication required", **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kw)


class Forbidden(AppError):
    status, code = 403, "forbidden"


class NotFound(AppError):
    status, code = 404, "not_found"

    def __init__(self, what: str, **kw: Any) -> None:
        super().__init__(f"{what} not found", **kw)


class Conflict(AppError):
    status, code = 409, "conflict"


class TooManyRequests(AppError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after: int, **kw: Any) -> None:
        kw.setdefault("headers", {"Retry-After": str(retry_after)})
        super().__init__(message, **kw)
