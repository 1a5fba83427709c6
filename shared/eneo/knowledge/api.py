"""Collections in spaces, their documents, uploads (presigned and direct) and retries."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response, status
from fastapi.responses import JSONResponse

from eneo.audit.service import Target, changes, record
from eneo.auth.deps import Context, CurrentUser
from eneo.core.pagination import Page, PageQuery
from eneo.knowledge.chunk_pages import ChunkOut, list_chunks
from eneo.knowledge.models import InfoBlobStatus
from eneo.knowledge.schemas import (
    DownloadOut,
    GroupCreate,
    GroupOut,
    GroupUpdate,
    InfoBlobOut,
    InfoBlobUpdate,
    PassageOut,
    UploadOut,
    UploadUrlOut,
    UploadUrlRequest,
)
from eneo.knowledge.service import collections, documents, downloads, retries, uploads
from eneo.knowledge.upload_form import read_upload_form
from eneo.usage.service import check_storage_quota

in_space = APIRouter(prefix="/api/v1/spaces/{space_id}/knowledge/groups", tags=["knowledge"])
groups = APIRouter(prefix="/api/v1/groups", tags=["knowledge"])
blobs = APIRouter(prefix="/api/v1/info-blobs", tags=["knowledge"])
Paging = Annotated[PageQuery, Depends()]


@in_space.post("/", status_code=status.HTTP_201_CREATED)
async def create_group(ctx: CurrentUser, space_id: uuid.UUID, body: GroupCreate) -> GroupOut:
    """Editors and admins of the space. Without `embedding_model_id`, the organisation's default model."""
    group = await collections.create_group(ctx.uow, ctx.principal, space_id, body)
    record(ctx.uow, ctx.principal, "collection.created", Target("collection", group.id, group.name),
           details={"space_id": str(space_id), "embedding_model_id": str(group.embedding_model_id)})
    return group


@in_space.get("/")
async def list_groups(ctx: CurrentUser, space_id: uuid.UUID, page: Paging) -> Page[GroupOut]:
    items, cursor = await collections.list_groups(ctx.uow, ctx.principal, space_id, limit=page.limit,
                                                  cursor=page.cursor)
    return Page(items=items, next_cursor=cursor)


@groups.get("/{group_id}/")
async def get_group(ctx: CurrentUser, group_id: uuid.UUID) -> GroupOut:
    return await collections.get_group(ctx.uow, ctx.principal, group_id)


@groups.patch("/{group_id}/")
async def update_group(ctx: CurrentUser, group_id: uuid.UUID, body: GroupUpdate) -> GroupOut:
    """Rename, describe, or move to another embedding model (every document is re-embedded in the background;
    until then it is not found by vector search). Its own model re-embeds a collection whose
    `vectors_outdated` is true (chunks embedded as questions by multilingual-e5-small before migration 0027)."""
    group = await collections.update_group(ctx.uow, ctx.principal, group_id, body, ctx.settings)
    record(ctx.uow, ctx.principal, "collection.updated", Target("collection", group.id, group.name),
           details=changes(body))
    return group


@groups.delete("/{group_id}/", status_code=status.HTTP_204_NO_CONTENT)
async def delete_group(ctx: CurrentUser, group_id: uuid.UUID) -> Response:
    """The collection with its documents, chunks, vectors and stored files."""
    await collections.delete_group(ctx.uow, ctx.principal, group_id)
    record(ctx.uow, ctx.principal, "collection.deleted", Target("collection", group_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@groups.get("/{group_id}/info-blobs/")
async def list_blobs(ctx: CurrentUser, group_id: uuid.UUID, page: Paging, status: InfoBlobStatus | None = None
                     ) -> Page[InfoBlobOut]:
    items, cursor = await documents.list_blobs(ctx.uow, ctx.principal, group_id, status=status, limit=page.limit,
                                             cursor=page.cursor)
    return Page(items=items, next_cursor=cursor)


@groups.post("/{group_id}/info-blobs/upload-url/", status_code=status.HTTP_201_CREATED)
async def create_upload_url(ctx: CurrentUser, group_id: uuid.UUID, body: UploadUrlRequest) -> UploadUrlOut:
    """For browsers: POST `upload.fields` and then the file as multipart/form-data to `upload.url`. Storage
    refuses a file over the type's limit or of another media type. 413 / 415 here for a declared size or
    type that cannot be accepted."""
    await check_storage_quota(ctx.uow, ctx.principal.tenant_id, body.size_bytes)
    out = await uploads.create_upload_url(ctx.uow, ctx.principal, group_id, body, ctx.settings)
    _document_created(ctx, out.blob, "upload_url")
    return out


def _document_created(ctx: Context, blob: InfoBlobOut, via: str) -> None:
    """The file's name, type and size: never its content."""
    record(ctx.uow, ctx.principal, "document.created", Target("document", blob.id, blob.filename),
           details={"collection_id": str(blob.group_id), "via": via, "declared_type": blob.declared_type,
                    "size_bytes": blob.size_bytes})


_UPLOAD_FORM: dict[str, Any] = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"},
        "title": {"type": "string", "maxLength": 500, "description": "Default: the file name, until ingestion "
                  "finds the document's own title (Markdown `# Title`, PDF or DOCX title)"},
        "language": {"type": "string", "enum": ["sv", "en", "other"], "description": "The document's language "
                     "(full-text search stems its words in it; `other`: no stemming). Default: detected"}}}}}}}


@groups.post("/{group_id}/info-blobs/upload/", status_code=status.HTTP_202_ACCEPTED, openapi_extra=_UPLOAD_FORM,
             responses={200: {"model": UploadOut, "description": "The collection has this content ready already"}})
async def upload(ctx: CurrentUser, group_id: uuid.UUID, request: Request) -> UploadOut:
    """For API clients: multipart/form-data with `file` (and optionally `title`). 202 with the document
    (ingestion runs in the background; follow its status), or 200 with the existing document and
    `duplicate: true` when the collection has the same content ready. The same content in a document that
    has not finished resumes that one: 202 with it and `resumed: true`. The type is checked on the content."""
    form = await read_upload_form(request, ctx.settings)
    await check_storage_quota(ctx.uow, ctx.principal.tenant_id, len(form.data))
    out, created = await uploads.upload(ctx.uow, ctx.principal, group_id, data=form.data, filename=form.filename,
                                        declared_type=form.declared_type, title=form.title, settings=ctx.settings,
                                        language=form.language)
    if created:
        _document_created(ctx, out, "upload")
    if not created:
        return JSONResponse(out.model_dump(mode="json"), status_code=status.HTTP_200_OK)  # type: ignore[return-value]
    return out


@blobs.get("/{blob_id}/")
async def get_blob(ctx: CurrentUser, blob_id: uuid.UUID) -> InfoBlobOut:
    """The document and its ingestion status (`chunks_embedded` of `chunks_total` while embedding)."""
    return await documents.get_blob(ctx.uow, ctx.principal, blob_id)


@blobs.get("/{blob_id}/download/")
async def download_blob(ctx: CurrentUser, blob_id: uuid.UUID) -> DownloadOut:
    """The original file: a presigned link to it in storage, valid a few minutes (`expires_at`). Any member
    of the document's space; 404 `not_found` for anyone else and other tenants, 404 `object_missing` when the
    stored file is not there (an upload that never finished). For a crawled page, `source_url` is the page."""
    return await downloads.download(ctx.uow, ctx.principal, blob_id, ctx.settings)


@blobs.get("/{blob_id}/chunks/")
async def get_chunks(ctx: CurrentUser, blob_id: uuid.UUID, page: Paging) -> Page[ChunkOut]:
    """The text the document became: its chunks in order (`chunk_index`, the page each starts on), a page at a
    time. Members of the document's space. Empty until ingestion has stored them."""
    items, cursor = await list_chunks(ctx.uow, ctx.principal, blob_id, limit=page.limit, cursor=page.cursor)
    return Page(items=items, next_cursor=cursor)


CHUNK_INDEX_MAX = 2**31 - 1  # chunks.chunk_index is a Postgres integer: a larger index would fail the query (500)


@blobs.get("/{blob_id}/chunks/{chunk_index}/")
async def get_passage(ctx: CurrentUser, blob_id: uuid.UUID,
                      chunk_index: Annotated[int, Path(ge=0, le=CHUNK_INDEX_MAX)]) -> PassageOut:
    """One passage of a document, as an answer's reference names it (`id`, `chunk_index`): its text and
    where the document is. Any member of the document's space."""
    return await documents.get_passage(ctx.uow, ctx.principal, blob_id, chunk_index)


@blobs.patch("/{blob_id}/")
async def rename_blob(ctx: CurrentUser, blob_id: uuid.UUID, body: InfoBlobUpdate) -> InfoBlobOut:
    return await documents.rename_blob(ctx.uow, ctx.principal, blob_id, body)


@blobs.delete("/{blob_id}/", status_code=status.HTTP_204_NO_CONTENT)
async def delete_blob(ctx: CurrentUser, blob_id: uuid.UUID) -> Response:
    """The document, its chunks and vectors, and its stored file."""
    await documents.delete_blob(ctx.uow, ctx.principal, blob_id)
    record(ctx.uow, ctx.principal, "document.deleted", Target("document", blob_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@blobs.post("/{blob_id}/retry/", status_code=status.HTTP_202_ACCEPTED)
async def retry_blob(ctx: CurrentUser, blob_id: uuid.UUID) -> InfoBlobOut:
    """Ingest a document again from its stored file: a failed one, or one that has not finished, at any time
    (harmless if it was still moving: the run under way stops). 409 `not_failed` for a ready one."""
    return await retries.retry(ctx.uow, ctx.principal, blob_id, ctx.settings)
