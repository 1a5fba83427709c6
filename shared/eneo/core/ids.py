"""Identifiers and timestamps used by every table."""

import uuid
from datetime import UTC, datetime


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def utcnow() -> datetime:
    return datetime.now(UTC)
