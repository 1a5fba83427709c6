"""Cursor pagination over (created_at, id): stable under inserts, no OFFSET scans."""

import base64
import binascii
import json
import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from eneo.core.errors import BadRequest, ValidationFailed
from eneo.core.settings import get_settings

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of results; pass `next_cursor` back as `cursor` for the next one."""

    items: list[T]
    next_cursor: str | None = None


def encode_cursor(created_at: datetime, id_: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(id_)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, id_ = json.loads(raw)
        return datetime.fromisoformat(created), uuid.UUID(id_)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise BadRequest("The cursor is not one this API returned", code="invalid_cursor") from None


async def paginate(session: AsyncSession, query: Select[Any], entity: Any, *, limit: int,
                   cursor: str | None) -> tuple[list[Any], str | None]:
    """Rows of `query` ordered oldest first, after `cursor`, and the cursor of the next page."""
    if cursor:
        created, id_ = decode_cursor(cursor)
        query = query.where(or_(entity.created_at > created,
                                and_(entity.created_at == created, entity.id > id_)))
    rows = list((await session.scalars(query.order_by(entity.created_at, entity.id).limit(limit + 1))).all())
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(last.created_at, last.id)


class PageQuery:
    """`?limit=&cursor=` as a FastAPI dependency, bounded by settings."""

    def __init__(self, limit: int | None = None, cursor: str | None = None) -> None:
        settings = get_settings()
        if limit is not None and not 1 <= limit <= settings.page_size_max:
            raise ValidationFailed(
                f"limit must be between 1 and {settings.page_size_max}",
                details=[{"field": "limit", "message": f"between 1 and {settings.page_size_max}",
                          "type": "value_error"}],
            )
        self.limit = limit or settings.page_size_default
        self.cursor = cursor
