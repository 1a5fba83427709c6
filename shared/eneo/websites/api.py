"""Websites in spaces, their search, and crawl runs (mounted by the knowledge function)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from eneo.auth.deps import CurrentUser
from eneo.core.pagination import Page, PageQuery
from eneo.knowledge.models import Group
from eneo.retrieval.api import SearchOut, SearchRequest, search_in
from eneo.websites import service
from eneo.websites.schemas import CrawlRunOut, WebsiteCreate, WebsiteOut, WebsiteUpdate

in_space = APIRouter(prefix="/api/v1/spaces/{space_id}/knowledge/websites", tags=["websites"])
websites = APIRouter(prefix="/api/v1/websites", tags=["websites"])
runs = APIRouter(prefix="/api/v1/crawl-runs", tags=["websites"])
Paging = Annotated[PageQuery, Depends()]


@in_space.post("/", status_code=status.HTTP_201_CREATED)
async def create_website(ctx: CurrentUser, space_id: uuid.UUID, body: WebsiteCreate) -> WebsiteOut:
    """Editors and admins of the space. 422 `url_refused` for an address the deployment may not reach
    (loopback, link-local, private; see OUTBOUND_ALLOWED_HOSTS). A scheduled website is crawled at the
    scheduler's next pass; any website is crawled now with POST /api/v1/websites/{id}/run/."""
    return await service.create_website(ctx.uow, ctx.principal, space_id, body)


@in_space.get("/")
async def list_websites(ctx: CurrentUser, space_id: uuid.UUID, page: Paging) -> Page[WebsiteOut]:
    items, cursor = await service.list_websites(ctx.uow, ctx.principal, space_id, limit=page.limit,
                                                cursor=page.cursor)
    return Page(items=items, next_cursor=cursor)


@websites.get("/{website_id}/")
async def get_website(ctx: CurrentUser, website_id: uuid.UUID) -> WebsiteOut:
    return await service.get_website(ctx.uow, ctx.principal, website_id)


@websites.patch("/{website_id}/")
async def update_website(ctx: CurrentUser, website_id: uuid.UUID, body: WebsiteUpdate) -> WebsiteOut:
    """Change its settings; `{"paused": false}` resumes a website paused after repeated failures."""
    return await service.update_website(ctx.uow, ctx.principal, website_id, body)


@websites.delete("/{website_id}/", status_code=status.HTTP_204_NO_CONTENT)
async def delete_website(ctx: CurrentUser, website_id: uuid.UUID) -> Response:
    """The website with its runs, pages, chunks, vectors and stored files."""
    await service.delete_website(ctx.uow, ctx.principal, website_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@websites.post("/{website_id}/searches/")
async def search_website(ctx: CurrentUser, website_id: uuid.UUID, body: SearchRequest) -> SearchOut:
    """The website's page passages best matching the query, best first, each with its page's `url`."""
    group_id = await service.search_target(ctx.uow, ctx.principal, website_id)
    group = await ctx.uow.session.get_one(Group, group_id)
    return await search_in(ctx, group, body)


@websites.post("/{website_id}/run/", status_code=status.HTTP_202_ACCEPTED)
async def start_run(ctx: CurrentUser, website_id: uuid.UUID) -> CrawlRunOut:
    """Crawl it now: 202 with the queued run; 409 `crawl_running` while one is queued or running. Progress
    arrives on the caller's events stream (`crawl_run.progress`) and at GET /api/v1/crawl-runs/{id}/."""
    return await service.start_run(ctx.uow, ctx.principal, website_id, ctx.settings)


@websites.get("/{website_id}/runs/")
async def list_runs(ctx: CurrentUser, website_id: uuid.UUID, page: Paging) -> Page[CrawlRunOut]:
    items, cursor = await service.list_runs(ctx.uow, ctx.principal, website_id, limit=page.limit,
                                            cursor=page.cursor)
    return Page(items=items, next_cursor=cursor)


@runs.get("/{run_id}/")
async def get_run(ctx: CurrentUser, run_id: uuid.UUID) -> CrawlRunOut:
    """Pages found, fetched, unchanged, failed and removed, and the failures by reason."""
    return await service.get_run(ctx.uow, ctx.principal, run_id)
