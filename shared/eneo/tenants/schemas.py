import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from eneo.tenants.models import TenantState


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)


class TenantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=200)
    state: TenantState | None = None


class TenantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    name: str
    state: TenantState
    created_at: datetime
    updated_at: datetime
