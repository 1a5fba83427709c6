"""What text a document became: its chunks in order, a page at a time (`GET /api/v1/info-blobs/{id}/chunks/`).

So that someone who cannot find a passage can see why: the text extraction produced, where chunks were
cut, which page each starts on. Members of the document's space read them, as they read the document
(eneo.knowledge.service.documents.get_blob checks that; everyone else, every other tenant, gets 404). The cursor is the
next chunk's position, not (created_at, id) as elsewhere: a document's chunks are written together, and
their order is their index.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid

from pydantic import BaseModel, Field
from sqlalchemy import select

from eneo.auth.principal import Principal
from eneo.core.db import UnitOfWork
from eneo.core.errors import BadRequest
from eneo.knowledge.models import Chunk


class ChunkOut(BaseModel):
    id: uuid.UUID
    chunk_index: int = Field(description="Position in the document, from 0")
    page: int | None = Field(description="The page (PDF) or slide it starts on; null where there are none")
    token_count: int
    text: str
    # A vector's model is always the collection's current one: a model change clears them (and a trigger
    # refuses a late vector of the old one), so a model id on the chunk means it is embedded.
    embedded: bool = Field(description="Whether it has a vector of the collection's model yet")


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(json.dumps(["chunk", index]).encode()).decode().rstrip("=")


def _after(cursor: str) -> int:
    try:
        kind, index = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if kind != "chunk" or not isinstance(index, int) or isinstance(index, bool):
            raise ValueError(cursor)
        return index
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise BadRequest("The cursor is not one this API returned", code="invalid_cursor") from None


async def list_chunks(uow: UnitOfWork, p: Principal, blob_id: uuid.UUID, *, limit: int, cursor: str | None
                      ) -> tuple[list[ChunkOut], str | None]:
    """The document's chunks after `cursor`, in order, and the cursor of the next page."""
    from eneo.knowledge.service.documents import get_blob

    blob = await get_blob(uow, p, blob_id)  # 404 for anyone who may not read it
    query = (select(Chunk.id, Chunk.chunk_index, Chunk.page, Chunk.token_count, Chunk.text,
                    Chunk.embedding_model_id)
             .where(Chunk.info_blob_id == blob.id, Chunk.tenant_id == p.tenant_id))
    if cursor:
        query = query.where(Chunk.chunk_index > _after(cursor))
    rows = (await uow.session.execute(query.order_by(Chunk.chunk_index).limit(limit + 1))).all()
    items = [ChunkOut(id=r[0], chunk_index=r[1], page=r[2], token_count=r[3], text=r[4],
                      embedded=r[5] is not None) for r in rows[:limit]]
    return items, _cursor(items[-1].chunk_index) if len(rows) > limit else None
