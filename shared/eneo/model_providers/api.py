"""Model providers (tenant admins) and completion models (everyone reads, admins write)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from eneo.audit.service import Target, changes, record
from eneo.auth.deps import CurrentUser
from eneo.core.pagination import Page, PageQuery
from eneo.model_providers import service
from eneo.model_providers.schemas import (
    ConnectionResult,
    ConnectionTest,
    ModelCreate,
    ModelOut,
    ModelUpdate,
    ModelUpdated,
    ProviderCreate,
    ProviderOut,
    ProviderUpdate,
)

providers = APIRouter(prefix="/api/v1/admin/model-providers", tags=["model providers"])
models = APIRouter(prefix="/api/v1/completion-models", tags=["completion models"])


@providers.post("/", status_code=status.HTTP_201_CREATED)
async def create_provider(ctx: CurrentUser, body: ProviderCreate) -> ProviderOut:
    """A provider with its credentials; the API key is stored encrypted and never returned."""
    provider = await service.create_provider(ctx.uow, ctx.principal, body)
    record(ctx.uow, ctx.principal, "model_provider.created", Target("model_provider", provider.id, provider.name),
           details={"type": provider.type, "api_key": provider.has_api_key})
    return provider


@providers.get("/")
async def list_providers(ctx: CurrentUser, page: Annotated[PageQuery, Depends()]) -> Page[ProviderOut]:
    items, cursor = await service.list_providers(ctx.uow, ctx.principal, limit=page.limit, cursor=page.cursor)
    return Page(items=items, next_cursor=cursor)


@providers.get("/{provider_id}/")
async def get_provider(ctx: CurrentUser, provider_id: uuid.UUID) -> ProviderOut:
    return await service.get_provider(ctx.uow, ctx.principal, provider_id)


@providers.patch("/{provider_id}/")
async def update_provider(ctx: CurrentUser, provider_id: uuid.UUID, body: ProviderUpdate) -> ProviderOut:
    """Rename, move, or replace the API key (`api_key: null` removes it where a key is optional)."""
    provider = await service.update_provider(ctx.uow, ctx.principal, provider_id, body)
    record(ctx.uow, ctx.principal, "model_provider.updated", Target("model_provider", provider.id, provider.name),
           details=changes(body))
    return provider


@providers.delete("/{provider_id}/", status_code=status.HTTP_204_NO_CONTENT)
async def delete_provider(ctx: CurrentUser, provider_id: uuid.UUID) -> Response:
    """Refused (409 `provider_in_use`) while completion or transcription models use the provider."""
    await service.delete_provider(ctx.uow, ctx.principal, provider_id)
    record(ctx.uow, ctx.principal, "model_provider.deleted", Target("model_provider", provider_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@providers.post("/{provider_id}/test/")
async def test_provider(ctx: CurrentUser, provider_id: uuid.UUID, body: ConnectionTest | None = None
                        ) -> ConnectionResult:
    """Call the provider with the stored credentials. Always 200 when the test ran: `ok: false` carries
    the provider's error code and message (a refusal by the provider is the answer, not our failure)."""
    return await service.check_connection(ctx.uow, ctx.principal, provider_id, body.model if body else None)


@models.get("/")
async def list_models(ctx: CurrentUser, page: Annotated[PageQuery, Depends()], include_disabled: bool = False
                      ) -> Page[ModelOut]:
    """The models assistants may use; admins add `include_disabled=true` to see every model."""
    items, cursor = await service.list_models(ctx.uow, ctx.principal, include_disabled=include_disabled,
                                              limit=page.limit, cursor=page.cursor)
    return Page(items=items, next_cursor=cursor)


@models.post("/", status_code=status.HTTP_201_CREATED)
async def create_model(ctx: CurrentUser, body: ModelCreate) -> ModelOut:
    model = await service.create_model(ctx.uow, ctx.principal, body)
    record(ctx.uow, ctx.principal, "completion_model.created", Target("completion_model", model.id, model.name),
           details={"provider_id": str(model.provider_id), "enabled": model.enabled, "is_default": model.is_default})
    return model


@models.get("/{model_id}/")
async def get_model(ctx: CurrentUser, model_id: uuid.UUID) -> ModelOut:
    return await service.get_model(ctx.uow, ctx.principal, model_id)


@models.patch("/{model_id}/")
async def update_model(ctx: CurrentUser, model_id: uuid.UUID, body: ModelUpdate) -> ModelUpdated:
    """Rename, resize, enable or disable, make default, classify. A disabled model's assistants stop answering;
    so do those in spaces classified above a new `security_classification_id` (`stopped_assistants`)."""
    model = await service.update_model(ctx.uow, ctx.principal, model_id, body)
    record(ctx.uow, ctx.principal, "completion_model.updated", Target("completion_model", model.id, model.name),
           details=changes(body))
    return model


@models.delete("/{model_id}/", status_code=status.HTTP_204_NO_CONTENT)
async def delete_model(ctx: CurrentUser, model_id: uuid.UUID) -> Response:
    """Refused (409 `model_in_use`, with the count) while assistants use the model; disable it instead."""
    await service.delete_model(ctx.uow, ctx.principal, model_id)
    record(ctx.uow, ctx.principal, "completion_model.deleted", Target("completion_model", model_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
