import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from eneo.core.text import Name, Text
from eneo.spaces.models import SpaceRole


class SpaceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    description: Text = Field("", max_length=5000)


class SpaceUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    description: Text | None = Field(None, max_length=5000)


class MemberAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: uuid.UUID
    role: SpaceRole


class MemberUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: SpaceRole


class MemberOut(BaseModel):
    user_id: uuid.UUID
    email: str
    name: str
    role: SpaceRole


class SpaceOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    personal: bool
    my_role: SpaceRole
    created_at: datetime
    updated_at: datetime


class SpaceDetail(SpaceOut):
    members: list[MemberOut]
