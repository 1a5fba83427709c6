"""Collections (groups) of documents (info blobs), and the chunks their text is split into, with vectors."""

import enum
import uuid
from datetime import datetime

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Computed,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, REGCONFIG, TSVECTOR
from sqlalchemy.orm import Mapped, deferred, mapped_column

from eneo.core.db import Base, Entity
from eneo.core.ids import new_id, utcnow

# Each embedding model's partial HNSW index on chunks is named this + the model id's 32 hex digits.
HNSW_INDEX_PREFIX = "chunks_hnsw_"
_SIMPLE = text("'simple'::regconfig")  # chunks' default configuration (inside Chunk, `text` is its column)


class InfoBlobStatus(enum.StrEnum):
    uploading = "uploading"  # the row exists; the object is not (known to be) in storage yet
    queued = "queued"  # the object is stored; waiting for ingest to take it (migration 0008)
    processing = "processing"  # ingest is detecting, extracting and chunking
    embedding = "embedding"  # chunks stored; `chunks_embedded` of `chunks_total` have vectors
    ready = "ready"
    failed = "failed"  # `error_code` / `error_message` say why


class Group(Entity, Base):
    """A collection of documents in a space; all its vectors come from one embedding model."""

    __tablename__ = "groups"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    space_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # No cascade: a model in use by a collection cannot be deleted.
    embedding_model_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("embedding_models.id"), index=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # `collection` (uploads), or `website`: the pages of one crawled website (eneo.websites), hidden from the
    # collection routes and reached through the website's (migration 0010).
    kind: Mapped[str] = mapped_column(String(16), default="collection", server_default="collection")
    # The form its chunks are embedded in (eneo.embeddings.types.Purpose): `query` for collections on
    # multilingual-e5-small made before "passage: " (migration 0027) until they are re-embedded.
    document_purpose: Mapped[str] = mapped_column(String(16), default="document", server_default="document")


class InfoBlob(Entity, Base):
    """One uploaded document: where its bytes are (`object_key`) and how far ingestion got."""

    __tablename__ = "info_blobs"
    __table_args__ = (
        Index("ix_info_blobs_group_created", "group_id", "created_at", "id"),
        # The same content twice in one collection is one document (a failed copy does not count).
        Index("uq_info_blobs_group_content", "group_id", "content_hash", unique=True,
              postgresql_where=text("content_hash IS NOT NULL AND status <> 'failed'")),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    uploaded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    title: Mapped[str] = mapped_column(String(500))
    filename: Mapped[str] = mapped_column(String(255))
    declared_type: Mapped[str] = mapped_column(String(200))  # what the client said
    content_type: Mapped[str | None] = mapped_column(String(200))  # what detection found
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    content_hash: Mapped[str | None] = mapped_column(String(64))  # sha256 hex of the bytes
    object_key: Mapped[str] = mapped_column(String(1024), unique=True)
    status: Mapped[InfoBlobStatus] = mapped_column(
        Enum(InfoBlobStatus, name="info_blob_status", values_callable=lambda e: [m.value for m in e]),
        default=InfoBlobStatus.uploading)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(String(500))
    pages: Mapped[int | None] = mapped_column(Integer)
    # The pages (from 1) whose text came from OCR: scanned PDF pages, an image's frames (migration 0016).
    ocr_pages: Mapped[list[int]] = mapped_column(ARRAY(Integer), default=list, server_default=text("'{}'::integer[]"))
    chunks_total: Mapped[int] = mapped_column(Integer, default=0)
    chunks_embedded: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The model its vectors were made with.
    embedding_model_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("embedding_models.id", ondelete="SET NULL"), index=True)
    processed_at: Mapped[datetime | None] = mapped_column()
    # Where a crawled page or linked file came from (eneo.websites); None for uploads. Citations carry it.
    source_url: Mapped[str | None] = mapped_column(Text)
    # `sv`, `en` or `other` (eneo.knowledge.language): given at upload, or detected at ingestion; None until
    # then. Its chunks' full-text configuration follows it (migration 0025).
    language: Mapped[str | None] = mapped_column(String(8))


class Chunk(Base):
    """A piece of a document's text, with its vector once embedded.

    `embedding` has no fixed dimension: each model's vectors are indexed by a partial HNSW index on
    `embedding::vector(<dims>)` where `embedding_model_id = '<model>'` (queries must repeat both).
    """

    __tablename__ = "chunks"
    __table_args__ = (
        UniqueConstraint("info_blob_id", "chunk_index"),  # a re-delivered event cannot duplicate chunks
        Index("ix_chunks_group_model", "group_id", "embedding_model_id"),
        Index("ix_chunks_tsv", "tsv", postgresql_using="gin"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"))
    info_blob_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("info_blobs.id", ondelete="CASCADE"))
    chunk_index: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    token_count: Mapped[int] = mapped_column(Integer)
    page: Mapped[int | None] = mapped_column(Integer)
    embedding: Mapped[list[float] | None] = deferred(mapped_column(Vector()))
    embedding_model_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("embedding_models.id", ondelete="SET NULL"))
    # The document's text-search configuration (`swedish`, `english`, `simple`: eneo.knowledge.language).
    ts_config: Mapped[str] = mapped_column(REGCONFIG, server_default=_SIMPLE)
    # Full-text search, stemmed in the document's language; computed by Postgres, never loaded unless asked for.
    tsv: Mapped[str] = deferred(mapped_column(TSVECTOR, Computed("to_tsvector(ts_config, text)", persisted=True)))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
