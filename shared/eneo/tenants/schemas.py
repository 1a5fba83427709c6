import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from eneo.core.text import Name
from eneo.tenants.models import TenantState


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name


class TenantUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    state: TenantState | None = None
    audit_retention_days: int | None = Field(None, ge=30, le=3650, description="How long the audit log keeps "
                                             "an entry (entries younger than this can be deleted by no one)")
    protect_personal_data: bool | None = Field(
        None, description="Mask personal identity numbers, e-mail addresses and phone numbers before a question "
                          "goes to an external model provider, for every assistant (docs/personal-data.md)")


class TenantOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    name: str
    state: TenantState
    audit_retention_days: int
    protect_personal_data: bool
    created_at: datetime
    updated_at: datetime


class TenantSettingsUpdate(BaseModel):
    """What a tenant's own admins may change about their organisation (`PATCH /api/v1/settings/`)."""

    model_config = ConfigDict(extra="forbid")
    protect_personal_data: bool | None = Field(
        None, description="Mask personal identity numbers, e-mail addresses and phone numbers before a question "
                          "goes to an external model provider, for every assistant (docs/personal-data.md)")
    audit_retention_days: int | None = Field(
        None, ge=30, le=3650, description="How long the audit log keeps an entry; only longer than now "
                                          "(403 `audit_retention_shortened`: only the sysadmin shortens it)")


class TenantSettingsOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    protect_personal_data: bool
    audit_retention_days: int
    updated_at: datetime
