"""Structured JSON logs with the request id of the current invocation.

CloudWatch (and `eneo-local`) show one JSON object per line. Never pass secrets or document
content to a logger: messages carry ids, codes and counts only.
"""

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

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
