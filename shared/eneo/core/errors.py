"""One error model for the whole platform.

Every error of ours is an EneoError: a stable, machine-readable `code`, a `message` for people (never a
secret, a provider's body or document content), the HTTP status an API answers it with, and whether trying
again later can help. Services raise AppErrors, which the HTTP adapter (eneo.core.http) turns into
`{"code", "message", "details", "request_id"}` with their status; the providers' errors (eneo.llm,
eneo.embeddings), a document's (eneo.knowledge.extract, eneo.ingestion) and an answer's are EneoErrors too,
so a caller reads any of them the same way.
"""

from typing import Any


class EneoError(Exception):
    """The base of every error the platform raises on purpose (see the module docstring)."""

    code: str = "internal_error"
    http_status: int = 500
    retryable: bool = False

    def __init__(self, code: str, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        if retryable is not None:
            self.retryable = retryable


class AppError(EneoError):
    """An error a route answers with: `status` is its HTTP status (`http_status` reads the same)."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(code or self.code, message)
        self.details = details or []
        self.headers = headers or {}

    @property
    def http_status(self) -> int:  # type: ignore[override]
        return self.status


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
