"""Embedding models: everyone reads the enabled ones (to choose one for a collection), admins write."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from eneo.audit.service import Target, changes, record
from eneo.auth.deps import CurrentUser
from eneo.core.pagination import Page, PageQuery
from eneo.model_providers import embedding_service as service
from eneo.model_providers.schemas import (
    EmbeddingModelCreate,
    EmbeddingModelOut,
    EmbeddingModelUpdate,
    EmbeddingModelUpdated,
)

embedding_models = APIRouter(prefix="/api/v1/embedding-models", tags=["embedding models"])


@embedding_models.get("/")
async def list_embedding_models(ctx: CurrentUser, page: Annotated[PageQuery, Depends()],
                                include_disabled: bool = False) -> Page[EmbeddingModelOut]:
    """The models collections may use, the built-in local one included; admins add `include_disabled=true`."""
    items, cursor = await service.list_embedding_models(ctx.uow, ctx.principal, include_disabled=include_disabled,
                                                        limit=page.limit, cursor=page.cursor)
    return Page(items=items, next_cursor=cursor)


@embedding_models.post("/", status_code=status.HTTP_201_CREATED)
async def create_embedding_model(ctx: CurrentUser, body: EmbeddingModelCreate) -> EmbeddingModelOut:
    """A model at an openai, azure or openai_compatible provider (anthropic has no embeddings: 422)."""
    model = await service.create_embedding_model(ctx.uow, ctx.principal, body)
    record(ctx.uow, ctx.principal, "embedding_model.created", Target("embedding_model", model.id, model.name),
           details={"provider_id": str(model.provider_id) if model.provider_id else None})
    return model


@embedding_models.get("/{model_id}/")
async def get_embedding_model(ctx: CurrentUser, model_id: uuid.UUID) -> EmbeddingModelOut:
    return await service.get_embedding_model(ctx.uow, ctx.principal, model_id)


@embedding_models.patch("/{model_id}/")
async def update_embedding_model(ctx: CurrentUser, model_id: uuid.UUID, body: EmbeddingModelUpdate
                                 ) -> EmbeddingModelUpdated:
    """Enable, disable, make default, change the input limit, classify. Name and dimensions are fixed. A new
    `security_classification_id` answers the collections it stopped (`stopped_collections`: their space is
    classified above the model) and the assistants using them (`stopped_assistants`)."""
    model = await service.update_embedding_model(ctx.uow, ctx.principal, model_id, body)
    record(ctx.uow, ctx.principal, "embedding_model.updated", Target("embedding_model", model.id, model.name),
           details=changes(body))
    return model


@embedding_models.delete("/{model_id}/", status_code=status.HTTP_204_NO_CONTENT)
async def delete_embedding_model(ctx: CurrentUser, model_id: uuid.UUID) -> Response:
    """Refused (409 `embedding_model_in_use`) while collections use it; the built-in one cannot be deleted."""
    await service.delete_embedding_model(ctx.uow, ctx.principal, model_id)
    record(ctx.uow, ctx.principal, "embedding_model.deleted", Target("embedding_model", model_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
