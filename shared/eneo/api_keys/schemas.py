import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from eneo.api_keys.models import KeyScope
from eneo.core.text import Name


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    scope: KeyScope = KeyScope.user
    assistant_id: uuid.UUID | None = Field(None, description="Required when scope is 'assistant'")
    expires_at: datetime | None = None

    @model_validator(mode="after")
    def _assistant_matches_scope(self) -> "ApiKeyCreate":
        if (self.scope == KeyScope.assistant) != (self.assistant_id is not None):
            raise ValueError("assistant_id is required with scope 'assistant' and only then")
        return self


class ApiKeyOut(BaseModel):
    """What listing shows: never the secret, only enough to recognise a key."""

    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    name: str
    prefix: str
    last4: str
    scope: KeyScope
    assistant_id: uuid.UUID | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret, shown this once")
