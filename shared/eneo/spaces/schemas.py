import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from eneo.classifications.schemas import ClassificationRef, Stopped
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
    security_classification_id: uuid.UUID | None = Field(
        None, description="A level of GET /api/v1/security-classifications/; null: unclassified (space admins)")


class MemberAdd(BaseModel):
    """Who to add: a user of the caller's tenant by id, or by e-mail (a space admin who is not a tenant admin
    cannot list the tenant's users, but knows a colleague's address)."""

    model_config = ConfigDict(extra="forbid")
    user_id: uuid.UUID | None = None
    email: EmailStr | None = Field(None, max_length=320)
    role: SpaceRole

    @model_validator(mode="after")
    def _one_way_to_name_the_user(self) -> "MemberAdd":
        if (self.user_id is None) == (self.email is None):
            raise ValueError("give either user_id or email, not both")
        return self


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
    security_classification: ClassificationRef | None = Field(
        description="Its assistants may use only models classified at this level or higher; null: unclassified")
    created_at: datetime
    updated_at: datetime


class GroupMemberOut(BaseModel):
    """A user group as a member: each of its members has at least `role` in the space."""

    group_id: uuid.UUID
    name: str
    role: SpaceRole


class SpaceDetail(SpaceOut):
    members: list[MemberOut] = Field(description="Direct members; `my_role` also counts one's groups' roles")
    group_members: list[GroupMemberOut] = Field(default_factory=list)


class SpaceUpdated(SpaceDetail, Stopped):
    """The space after a PATCH, and the assistants a new security classification stopped."""
