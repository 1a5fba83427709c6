"""Websites in spaces, the pages a crawl stored, crawl runs, and each run's frontier (its checkpoint)."""

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from eneo.core.db import Base, Entity
from eneo.core.ids import new_id, utcnow


class CrawlType(enum.StrEnum):
    crawl = "crawl"  # follow links within the site from `url`
    sitemap = "sitemap"  # the pages the site's sitemap lists (`url` is the sitemap, or the site's root)


class UpdateInterval(enum.StrEnum):
    never = "never"
    daily = "daily"
    every_other_day = "every_other_day"
    weekly = "weekly"


INTERVAL_DAYS = {UpdateInterval.daily: 1, UpdateInterval.every_other_day: 2, UpdateInterval.weekly: 7}


class RunStatus(enum.StrEnum):
    queued = "queued"
    running = "running"
    complete = "complete"  # every page of the frontier was tried: pages not seen any more were removed
    failed = "failed"  # the site could not be crawled (down, refused): nothing was removed


ACTIVE = (RunStatus.queued.value, RunStatus.running.value)


class Website(Entity, Base):
    """A site crawled into its own collection (`group_id`, kind `website`), in a space."""

    __tablename__ = "websites"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    space_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id", ondelete="CASCADE"), unique=True)
    url: Mapped[str] = mapped_column(Text)
    crawl_type: Mapped[str] = mapped_column(String(16))
    update_interval: Mapped[str] = mapped_column(String(24))
    max_pages: Mapped[int] = mapped_column(Integer)
    max_depth: Mapped[int] = mapped_column(Integer)
    download_files: Mapped[bool] = mapped_column()
    auth_username: Mapped[str | None] = mapped_column(String(200))
    auth_password_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)  # eneo.core.crypto, never returned
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    paused_reason: Mapped[str | None] = mapped_column(String(500))
    next_run_at: Mapped[datetime | None] = mapped_column(index=True)
    last_run_at: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class CrawlRun(Entity, Base):
    """One crawl of a website; `lease_until` is held by the one crawl invocation working on it."""

    __tablename__ = "crawl_runs"
    __table_args__ = (
        Index("ix_crawl_runs_website_created", "website_id", "created_at", "id"),
        # Never two runs of one website at once: a second POST .../run/ gets 409, the scheduler skips it.
        Index("uq_crawl_runs_active", "website_id", unique=True,
              postgresql_where=text("status IN ('queued', 'running')")),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    website_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("websites.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.queued.value)
    trigger: Mapped[str] = mapped_column(String(16))  # manual | schedule
    started_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    pages_found: Mapped[int] = mapped_column(Integer, default=0)
    pages_fetched: Mapped[int] = mapped_column(Integer, default=0)
    pages_unchanged: Mapped[int] = mapped_column(Integer, default=0)
    pages_failed: Mapped[int] = mapped_column(Integer, default=0)
    pages_removed: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)  # reason -> count
    error: Mapped[str | None] = mapped_column(String(500))
    invocations: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()


class CrawlUrl(Base):
    """One URL of a run's frontier: `pending` until tried, then `done`, `failed` (kept, not removed) or
    `gone` (404/410, or no longer allowed: removed if the run completes)."""

    __tablename__ = "crawl_urls"
    __table_args__ = (UniqueConstraint("run_id", "url"), Index("ix_crawl_urls_run_state", "run_id", "state", "id"))

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("crawl_runs.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    depth: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(String(64))


class WebsitePage(Base):
    """A page (or linked file) a crawl stored, as the document `info_blob_id`; what the next crawl sends
    back to make its request conditional (`etag`, `last_modified`) and the hash of what was embedded."""

    __tablename__ = "website_pages"
    __table_args__ = (UniqueConstraint("website_id", "url"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    website_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("websites.id", ondelete="CASCADE"))
    info_blob_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("info_blobs.id", ondelete="SET NULL"))
    url: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(String(500))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    seen_run_id: Mapped[uuid.UUID | None] = mapped_column()
    # Its links when last fetched: a page that answers 304 has no body to read them from, and the crawl must
    # still go on through it.
    links: Mapped[list[str]] = mapped_column(JSONB, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
