import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from eneo.core.text import Name
from eneo.tenants.models import TenantState


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name


class TenantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    state: TenantState | None = None


class TenantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    name: str
    state: TenantState
    created_at: datetime
    updated_at: datetime
