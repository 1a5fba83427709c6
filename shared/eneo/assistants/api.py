"""Assistants: created in a space, used across the caller's spaces, with their prompt history."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status

from eneo.assistants import service
from eneo.assistants.schemas import AssistantCreate, AssistantOut, AssistantUpdate, PromptVersionOut
from eneo.auth.deps import AssistantUser, CurrentUser
from eneo.core.pagination import Page, PageQuery

in_space = APIRouter(prefix="/api/v1/spaces/{space_id}/applications/assistants", tags=["assistants"])
router = APIRouter(prefix="/api/v1/assistants", tags=["assistants"])
Paging = Annotated[PageQuery, Depends()]


@in_space.post("/", status_code=status.HTTP_201_CREATED)
async def create_assistant(ctx: CurrentUser, space_id: uuid.UUID, body: AssistantCreate) -> AssistantOut:
    """Editors and admins of the space. Without `completion_model_id`, the organisation's default model."""
    return await service.create_assistant(ctx.uow, ctx.principal, space_id, body)


@in_space.get("/")
async def list_space_assistants(ctx: CurrentUser, space_id: uuid.UUID, page: Paging) -> Page[AssistantOut]:
    """Viewers see the published ones; editors and admins all."""
    items, cursor = await service.list_space_assistants(ctx.uow, ctx.principal, space_id, limit=page.limit,
                                                        cursor=page.cursor)
    return Page(items=items, next_cursor=cursor)


@router.get("/")
async def list_assistants(ctx: CurrentUser, page: Paging) -> Page[AssistantOut]:
    """The assistants the caller may use, across their spaces."""
    items, cursor = await service.list_usable(ctx.uow, ctx.principal, limit=page.limit, cursor=page.cursor)
    return Page(items=items, next_cursor=cursor)


@router.get("/{assistant_id}/")
async def get_assistant(ctx: AssistantUser, assistant_id: uuid.UUID) -> AssistantOut:
    """Also answers an API key restricted to this assistant."""
    return await service.get_assistant(ctx.uow, ctx.principal, assistant_id)


@router.patch("/{assistant_id}/")
async def update_assistant(ctx: CurrentUser, assistant_id: uuid.UUID, body: AssistantUpdate) -> AssistantOut:
    return await service.update_assistant(ctx.uow, ctx.principal, assistant_id, body)


@router.delete("/{assistant_id}/", status_code=status.HTTP_204_NO_CONTENT)
async def delete_assistant(ctx: CurrentUser, assistant_id: uuid.UUID) -> Response:
    await service.delete_assistant(ctx.uow, ctx.principal, assistant_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{assistant_id}/prompts/")
async def list_prompts(ctx: CurrentUser, assistant_id: uuid.UUID, page: Paging) -> Page[PromptVersionOut]:
    """Every version of the system prompt, newest first (editors and admins)."""
    items, cursor = await service.list_prompts(ctx.uow, ctx.principal, assistant_id, limit=page.limit,
                                               cursor=page.cursor)
    return Page(items=items, next_cursor=cursor)


@router.post("/{assistant_id}/prompts/{version}/restore/")
async def restore_prompt(ctx: CurrentUser, assistant_id: uuid.UUID,
                         version: Annotated[int, Path(ge=1, le=999_999_999)]) -> AssistantOut:
    """Make an earlier version the current prompt again; it is recorded as a new version."""
    return await service.restore_prompt(ctx.uow, ctx.principal, assistant_id, version)
