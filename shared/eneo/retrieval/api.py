"""`POST /api/v1/groups/{id}/searches/`: hybrid search in one collection (mounted by the knowledge function)."""

import uuid
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from eneo.auth.deps import CurrentUser
from eneo.core.errors import AppError, NotFound
from eneo.core.settings import get_settings
from eneo.core.text import Query
from eneo.embeddings import EmbeddingError
from eneo.retrieval.service import Hit, Method, search

router = APIRouter(prefix="/api/v1/groups", tags=["knowledge"])


def _default_limit() -> int:
    return get_settings().search_default_limit


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: Query
    limit: int = Field(default_factory=_default_limit, ge=1, le=100)
    method: Method = Field("hybrid", description="`hybrid` (vectors and full text, fused: the best overall on "
                                                 "our evaluation, docs/knowledge.md), `dense` (vectors alone) or "
                                                 "`lexical` (full text alone, no embedding call)")


class SearchHitOut(BaseModel):
    chunk_id: uuid.UUID
    info_blob_id: uuid.UUID
    title: str  # the document's title
    url: str | None = Field(None, description="Where a website's page came from; null for uploads")
    chunk_index: int
    page: int | None
    text: str
    score: float = Field(description="Relevance in [0, 1] by the request's method; 1 = the best possible (for "
                                     "hybrid: first in both the vector and the full-text ranking). Comparable "
                                     "within one response only.")

    @classmethod
    def of(cls, hit: Hit) -> "SearchHitOut":
        return cls(chunk_id=hit.chunk_id, info_blob_id=hit.info_blob_id, title=hit.title,
                   chunk_index=hit.chunk_index, page=hit.page, text=hit.text, score=round(hit.score, 6),
                   url=hit.url)


class SearchOut(BaseModel):
    items: list[SearchHitOut]


class EmbeddingUnavailable(AppError):
    status, code = 502, "embedding_failed"


@router.post("/{group_id}/searches/")
async def search_group(ctx: CurrentUser, group_id: uuid.UUID, body: SearchRequest) -> SearchOut:
    """The collection's chunks best matching the query, best first. Members of the collection's space."""
    from eneo.knowledge.models import Group
    from eneo.knowledge.service.access import readable_group_ids

    session, tenant_id = ctx.uow.session, ctx.principal.tenant_id
    if not await readable_group_ids(session, ctx.principal, [group_id]):
        raise NotFound("Collection")
    group = await session.get(Group, group_id)
    if group is None or group.tenant_id != tenant_id or group.kind != "collection":
        raise NotFound("Collection")
    return await search_in(ctx, group, body)


async def search_in(ctx: CurrentUser, group: Any, body: SearchRequest) -> SearchOut:
    """Search one collection the caller was found to read (a collection's, or a website's pages). A query to
    be embedded is refused (409 `embedding_classification_too_low`) by a model classified below the space."""
    from eneo.classifications.knowledge import check_embedding_for_space
    from eneo.model_providers.clients import load_embedder
    from eneo.model_providers.personal_data import tenant_protects
    from eneo.permissions.model_access import require_model_access

    session, tenant_id = ctx.uow.session, ctx.principal.tenant_id
    # A tenant that protects personal data sends the query masked to an external embedding model.
    model, embedder = await load_embedder(session, tenant_id, group.embedding_model_id,
                                          mask=await tenant_protects(session, tenant_id))
    await require_model_access(ctx.uow, ctx.principal.user_id, "embedding", model.name, model.allowed_group_ids)
    if body.method != "lexical":
        await check_embedding_for_space(session, tenant_id, group.space_id, model)
    await ctx.uow.commit()  # hold no connection while a provider embeds the query
    vector = None
    if body.method != "lexical":
        try:
            vector = (await embedder.embed([body.query]))[0]
        except EmbeddingError as e:
            err = EmbeddingUnavailable(f"The query could not be embedded: {e.message}", code=e.code)
            err.status = 503 if e.retryable else 502
            raise err from e
    hits = await search(session, tenant_id=tenant_id, group_ids=[group.id], query_text=body.query,
                        query_vector=vector, embedding_model=model, limit=body.limit, method=body.method)
    return SearchOut(items=[SearchHitOut.of(h) for h in hits])
