"""Transcription models: everyone reads the enabled ones (to see whether audio can be uploaded), admins write."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from eneo.audit.service import Target, changes, record
from eneo.auth.deps import CurrentUser
from eneo.core.pagination import Page, PageQuery
from eneo.model_providers import transcription_service as service
from eneo.model_providers.schemas import (
    TranscriptionModelCreate,
    TranscriptionModelOut,
    TranscriptionModelUpdate,
)

transcription_models = APIRouter(prefix="/api/v1/transcription-models", tags=["transcription models"])


@transcription_models.get("/")
async def list_transcription_models(ctx: CurrentUser, page: Annotated[PageQuery, Depends()],
                                    include_disabled: bool = False) -> Page[TranscriptionModelOut]:
    """The models audio documents may be transcribed with; admins add `include_disabled=true`."""
    items, cursor = await service.list_transcription_models(ctx.uow, ctx.principal, include_disabled=include_disabled,
                                                            limit=page.limit, cursor=page.cursor)
    return Page(items=items, next_cursor=cursor)


@transcription_models.post("/", status_code=status.HTTP_201_CREATED)
async def create_transcription_model(ctx: CurrentUser, body: TranscriptionModelCreate) -> TranscriptionModelOut:
    """A model (e.g. whisper-1) at an openai, azure or openai_compatible provider (anthropic has none: 422)."""
    model = await service.create_transcription_model(ctx.uow, ctx.principal, body)
    record(ctx.uow, ctx.principal, "transcription_model.created", Target("transcription_model", model.id, model.name),
           details={"provider_id": str(model.provider_id) if model.provider_id else None})
    return model


@transcription_models.get("/{model_id}/")
async def get_transcription_model(ctx: CurrentUser, model_id: uuid.UUID) -> TranscriptionModelOut:
    return await service.get_transcription_model(ctx.uow, ctx.principal, model_id)


@transcription_models.patch("/{model_id}/")
async def update_transcription_model(ctx: CurrentUser, model_id: uuid.UUID, body: TranscriptionModelUpdate
                                     ) -> TranscriptionModelOut:
    """Enable, disable, make default (one per tenant). The name is fixed."""
    model = await service.update_transcription_model(ctx.uow, ctx.principal, model_id, body)
    record(ctx.uow, ctx.principal, "transcription_model.updated", Target("transcription_model", model.id, model.name),
           details=changes(body))
    return model


@transcription_models.delete("/{model_id}/", status_code=status.HTTP_204_NO_CONTENT)
async def delete_transcription_model(ctx: CurrentUser, model_id: uuid.UUID) -> Response:
    """Documents already transcribed keep their text."""
    await service.delete_transcription_model(ctx.uow, ctx.principal, model_id)
    record(ctx.uow, ctx.principal, "transcription_model.deleted", Target("transcription_model", model_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
