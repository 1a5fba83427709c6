import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from eneo.core.text import Name
from eneo.permissions.policy import Permission
from eneo.spaces.models import SpaceRole


class RoleCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    permissions: list[Permission] = Field(default_factory=list, max_length=len(Permission))


class RoleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    permissions: list[Permission] | None = Field(None, max_length=len(Permission))


class RoleOut(BaseModel):
    id: uuid.UUID
    name: str
    builtin: bool = Field(description="The built-in roles (admin, user) have the same fixed ids in every "
                                      "organisation and cannot be changed")
    permissions: list[Permission]
    created_at: datetime | None = None
    updated_at: datetime | None = None


class RoleList(BaseModel):
    items: list[RoleOut]


class UserGroupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name


class UserGroupUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name


class GroupMemberOut(BaseModel):
    user_id: uuid.UUID
    email: str
    name: str


class UserGroupOut(BaseModel):
    id: uuid.UUID
    name: str
    member_count: int
    created_at: datetime
    updated_at: datetime


class UserGroupDetail(UserGroupOut):
    members: list[GroupMemberOut]


class GroupMemberAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: uuid.UUID


class SpaceGroupAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")
    group_id: uuid.UUID
    role: SpaceRole


class SpaceGroupUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: SpaceRole
