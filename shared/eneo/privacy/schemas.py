import enum
import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from eneo.privacy.models import MAX_DAYS


class RetentionScope(enum.StrEnum):
    tenant = "tenant"
    space = "space"
    assistant = "assistant"


class RetentionSet(BaseModel):
    """Keep conversations `days` days after each question was asked, then delete them."""

    model_config = ConfigDict(extra="forbid")
    days: int = Field(ge=1, le=MAX_DAYS)


class RetentionOut(BaseModel):
    """The period set on this target (`days`, null when none) and the one that applies to its conversations:
    the most specific set among assistant, space and tenant (`effective_days` from `effective_scope`; both null
    when none is set, and conversations are kept until deleted)."""

    scope: RetentionScope
    target_id: uuid.UUID
    days: int | None
    effective_days: int | None
    effective_scope: RetentionScope | None


class ExportOut(BaseModel):
    """Where to download the archive (a presigned link, no credentials needed, until `expires_at`)."""

    url: str
    expires_at: datetime
    size_bytes: int
    documents: int  # uploaded documents whose files are in the archive


class ErasureOut(BaseModel):
    sessions: int
    questions: int
    api_keys: int
    documents_deleted: int  # the personal space's: rows, files and vectors
    documents_deattributed: int  # in shared spaces: kept, no longer naming the user
