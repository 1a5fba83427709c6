"""Structured JSON logs with the request id of the current invocation.

CloudWatch (and `eneo-local`) show one JSON object per line. Never pass secrets or document
content to a logger: messages carry ids, codes and counts only.
"""

import json
import logging
import sys
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
# The address the current request came from (API Gateway's sourceIp): for the audit log, never for logs.
source_ip_var: ContextVar[str | None] = ContextVar("source_ip", default=None)

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if rid := request_id_var.get():
            entry["request_id"] = rid
        entry.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED and not k.startswith("_")})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)

    def formatException(self, ei: Any) -> str:
        """The traceback, with the messages of database errors withheld: Postgres quotes the offending
        value ('invalid input syntax …: "<the question>"', 'Key (email)=(…) already exists')."""
        chain = list(_chain(ei[1]))
        if not any(_from_database(e) for e in chain):
            return super().formatException(ei)
        lines = traceback.format_tb(ei[2])
        for exc in reversed(chain):
            if _from_database(exc):
                state = getattr(exc, "sqlstate", None) or getattr(getattr(exc, "orig", None), "sqlstate", None)
                lines.append(f"{type(exc).__module__}.{type(exc).__qualname__}: SQLSTATE {state} "
                             "(message withheld: database errors can quote the statement's values)\n")
            else:
                lines.append(f"{type(exc).__name__}: {exc}\n")
        return "".join(lines).rstrip()


def _chain(exc: BaseException | None) -> Any:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _from_database(exc: BaseException) -> bool:
    """psycopg's errors and SQLAlchemy's wrappers of them (which carry `orig`)."""
    return type(exc).__module__.startswith("psycopg") or hasattr(exc, "orig")


class StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is at emit time, not the stream of the first configuration."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route the root logger to stdout as JSON; idempotent across warm invocations."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    for existing in root.handlers:
        if isinstance(existing.formatter, JsonFormatter):
            existing.formatter.service = service
            return
    handler = StdoutHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root.handlers[:] = [handler]
    for noisy in ("mangum", "botocore", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
