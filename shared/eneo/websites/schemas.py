import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, StringConstraints

from eneo.core.text import Name, storable
from eneo.websites.models import CrawlType, RunStatus, UpdateInterval

URL_MAX = 2000
PAGES_MAX = 10_000
DEPTH_MAX = 20


def _http_url(value: str) -> str:
    from urllib.parse import urlsplit

    if not storable(value) or any(ch.isspace() for ch in value):
        raise ValueError("must be a URL without spaces or control characters")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials: use auth_username and auth_password")
    return value


Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=URL_MAX),
                AfterValidator(_http_url)]
Username = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(lambda v: _printable(v))]


def _password(value: SecretStr) -> SecretStr:
    plain = value.get_secret_value()
    if not 0 < len(plain) <= 500 or not plain.isprintable():
        raise ValueError("must be 1 to 500 printable characters")
    return value


Password = Annotated[SecretStr, AfterValidator(_password)]


def _printable(value: str) -> str:
    if not value.isprintable() or ":" in value:
        raise ValueError("printable characters without ':'")
    return value


class WebsiteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Url = Field(description="Where the crawl starts (`crawl`), or the sitemap or the site's root (`sitemap`)")
    name: Name | None = Field(None, description="Default: the URL's host and path")
    crawl_type: CrawlType = CrawlType.crawl
    update_interval: UpdateInterval = UpdateInterval.never
    max_pages: int = Field(500, ge=1, le=PAGES_MAX)
    max_depth: int = Field(5, ge=0, le=DEPTH_MAX, description="Links followed from the start URL (crawl only)")
    download_files: bool = Field(False, description="Also store linked files (PDF, DOCX, XLSX, PPTX, …)")
    auth_username: Username | None = Field(None, description="HTTP basic auth; sent to this site only")
    auth_password: Password | None = Field(None, description="Stored encrypted, never returned")
    embedding_model_id: uuid.UUID | None = Field(None, description="Default: the organisation's default model")


class WebsiteUpdate(BaseModel):
    """Fields to change. `paused: false` resumes a website the crawler paused after repeated failures."""

    model_config = ConfigDict(extra="forbid")
    url: Url | None = None
    name: Name | None = None
    crawl_type: CrawlType | None = None
    update_interval: UpdateInterval | None = None
    max_pages: int | None = Field(None, ge=1, le=PAGES_MAX)
    max_depth: int | None = Field(None, ge=0, le=DEPTH_MAX)
    download_files: bool | None = None
    auth_username: Username | None = Field(None, description="\"\" is refused; send null with auth_password null "
                                                             "to remove the credentials")
    auth_password: Password | None = None
    paused: bool | None = Field(None, description="false: resume (clears the failure count); true: pause")


class WebsiteOut(BaseModel):
    id: uuid.UUID
    space_id: uuid.UUID
    name: str
    url: str
    crawl_type: CrawlType
    update_interval: UpdateInterval
    max_pages: int
    max_depth: int
    download_files: bool
    auth_username: str | None
    has_auth_password: bool = Field(description="A password is stored (it is never returned)")
    embedding_model_id: uuid.UUID
    pages: int = Field(description="Documents (pages and files) the website has now, whatever their status")
    pages_ready: int
    paused: bool
    paused_reason: str | None = Field(description="Why crawling stopped (after 10 failed runs in a row)")
    consecutive_failures: int
    next_run_at: datetime | None = Field(description="When the schedule crawls it next (null: not scheduled)")
    last_run_at: datetime | None
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class CrawlRunOut(BaseModel):
    id: uuid.UUID
    website_id: uuid.UUID
    status: RunStatus
    trigger: str = Field(description="`manual` (POST .../run/) or `schedule`")
    started_by: uuid.UUID | None
    pages_found: int
    pages_fetched: int = Field(description="Fetched and stored (new or changed)")
    pages_unchanged: int = Field(description="304 Not Modified, or the same content as stored")
    pages_failed: int
    pages_removed: int
    failures: dict[str, int] = Field(description="Pages that failed, by reason")
    error: str | None = Field(description="Why the run failed as a whole")
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    updated_at: datetime
