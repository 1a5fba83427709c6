import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class UsageRow(BaseModel):
    """One group's sums; the grouping's keys are present only when grouped by them (names: None once the
    user, assistant or model was deleted)."""

    day: date | None = None
    month: date | None = None
    user_id: uuid.UUID | None = None
    user_name: str | None = None
    assistant_id: uuid.UUID | None = None
    assistant_name: str | None = None
    model_id: uuid.UUID | None = None
    model_name: str | None = None
    input_tokens: int
    output_tokens: int
    total_tokens: int
    questions: int


class TokenUsageOut(BaseModel):
    start: date
    end: date
    group_by: list[str]
    items: list[UsageRow]


class CollectionStorage(BaseModel):
    id: uuid.UUID
    name: str
    space_id: uuid.UUID
    bytes: int
    documents: int


class StorageOut(BaseModel):
    bytes: int
    documents: int
    quota_bytes: int | None
    collections: list[CollectionStorage]


Limit = int | None


class QuotasOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    tokens_per_month: int | None
    tokens_per_user_per_month: int | None
    storage_bytes: int | None
    tokens_used_this_month: int = 0
    storage_used_bytes: int = 0
    updated_at: datetime | None = None


class QuotasUpdate(BaseModel):
    """A limit set to null is removed; a field not sent stays as it is."""

    model_config = ConfigDict(extra="forbid")
    tokens_per_month: int | None = Field(None, ge=0, le=10**15, description="Tokens (input + output) per "
                                         "calendar month (UTC) for the whole organisation")
    tokens_per_user_per_month: int | None = Field(None, ge=0, le=10**15, description="Tokens per month for "
                                                  "each user")
    storage_bytes: int | None = Field(None, ge=0, le=10**18, description="Bytes of stored documents")
