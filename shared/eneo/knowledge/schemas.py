import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from eneo.core.text import Name, Text, must_be_storable
from eneo.knowledge.language import Language
from eneo.knowledge.models import InfoBlobStatus

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
                  AfterValidator(must_be_storable)]
Filename = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
                     AfterValidator(must_be_storable)]

MediaType = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(must_be_storable)]


class GroupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    description: Text = Field("", max_length=10_000)
    embedding_model_id: uuid.UUID | None = Field(None, description="Default: the organisation's default model")


class GroupUpdate(BaseModel):
    """Changing `embedding_model_id` re-embeds every document of the collection in the background; so does
    giving its own model to a collection whose vectors are outdated (`GroupOut.vectors_outdated`)."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    description: Text | None = Field(None, max_length=10_000)
    embedding_model_id: uuid.UUID | None = None


class GroupOut(BaseModel):
    id: uuid.UUID
    space_id: uuid.UUID
    name: str
    description: str
    embedding_model_id: uuid.UUID
    created_by: uuid.UUID | None
    documents: int = Field(description="Documents in the collection, whatever their status")
    documents_ready: int
    documents_failed: int
    vectors_outdated: bool = Field(description="Its chunks were embedded as questions (multilingual-e5-small "
                                   "before the \"passage: \" prefix): search works, a little less well; PATCH "
                                   "the collection with its own embedding_model_id to re-embed them")
    created_at: datetime
    updated_at: datetime


class PassageOut(BaseModel):
    """One passage (chunk) of a document, as an answer's citation points at it (`id` and `chunk_index` of a
    reference): its text, and where the document lives (its collection and space)."""

    info_blob_id: uuid.UUID
    title: str
    filename: str
    group_id: uuid.UUID
    space_id: uuid.UUID
    chunk_index: int
    page: int | None
    text: str
    source_url: str | None = Field(None, description="The page's address, for a crawled website page")


class InfoBlobOut(BaseModel):
    id: uuid.UUID
    group_id: uuid.UUID
    title: str
    filename: str
    declared_type: str = Field(description="The media type the uploader declared")
    content_type: str | None = Field(description="The media type found in the content (after detection)")
    size_bytes: int | None
    content_hash: str | None = Field(description="sha256 of the bytes, hex")
    status: InfoBlobStatus
    error_code: str | None
    error_message: str | None
    pages: int | None
    ocr_pages: list[int] = Field(default_factory=list, description="The pages (from 1) whose text was read by OCR "
                                 "(scanned PDF pages without a text layer, images); empty when none was")
    language: Language | None = Field(None, description="`sv`, `en` or `other`: given at upload, or detected "
                                      "at ingestion (None until then). Full-text search stems the document's "
                                      "words in this language (`other`: no stemming)")
    chunks_total: int
    chunks_embedded: int
    embedding_model_id: uuid.UUID | None
    uploaded_by: uuid.UUID | None
    processed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class DownloadOut(BaseModel):
    """A link to a document's original file, straight from storage, valid until `expires_at` (minutes)."""

    info_blob_id: uuid.UUID
    url: str = Field(description="Presigned GET of the stored file; saved by browsers as `filename`")
    expires_at: datetime
    filename: str
    content_type: str
    size_bytes: int | None
    source_url: str | None = Field(description="The page's address, for a crawled website page; None for uploads")


class InfoBlobUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Title


class UploadUrlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    filename: Filename
    content_type: MediaType = Field(description="The file's media type (see GET /api/v1/limits/)")
    size_bytes: int = Field(ge=1, description="The file's size; storage refuses more than the type's limit")
    title: Title | None = Field(None, description="Default: the file name, until ingestion finds the "
                                                  "document's own title (Markdown `# Title`, PDF or DOCX title)")
    language: Language | None = Field(None, description="`sv`, `en` or `other` (no stemming); default: "
                                                        "detected from the text at ingestion")


class PresignedUpload(BaseModel):
    """POST `fields` plus the file (last, as `file`) as multipart/form-data to `url` before `expires_at`."""

    url: str
    fields: dict[str, str]
    expires_at: datetime


class UploadUrlOut(BaseModel):
    upload: PresignedUpload
    blob: InfoBlobOut


class UploadOut(InfoBlobOut):
    duplicate: bool = Field(False, description="The collection has this content already: this is that document")
    resumed: bool = Field(False, description="The collection had this content in a document that had not "
                                             "finished: this is that document, started over with these bytes")
