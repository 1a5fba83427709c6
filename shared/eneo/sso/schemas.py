import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from eneo.core.text import Name, Text
from eneo.users.models import UserRole

Issuer = Annotated[AnyHttpUrl, Field(description="The provider's issuer URL: its discovery document is at "
                                     "<issuer>/.well-known/openid-configuration")]
Claim = Annotated[Text, Field(min_length=1, max_length=100)]


def _with_openid(value: str | None) -> str | None:
    """OpenID Connect needs the `openid` scope; spaces are normalised."""
    if value is not None and "openid" not in value.split():
        raise ValueError("must include openid")
    return " ".join(value.split()) if value is not None else None


class RoleMapping(BaseModel):
    """A user whose `role_claim` is (or, for a list, holds) `value` gets `role`."""

    model_config = ConfigDict(extra="forbid")
    value: Annotated[Text, Field(min_length=1, max_length=200)]
    role: UserRole


class GroupMapping(BaseModel):
    """A user whose `role_claim` is (or holds) `value` is a member of the user group `group_id`; one who no
    longer does is removed from it at the next sign-in."""

    model_config = ConfigDict(extra="forbid")
    value: Annotated[Text, Field(min_length=1, max_length=200)]
    group_id: uuid.UUID


GroupMappings = Annotated[list[GroupMapping], Field(max_length=100, description=(
    "Claim values to user groups (the organisation's own; 422 otherwise). A group deleted later drops out."))]


class SsoProviderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[Name, Field(max_length=100, description="Shown on the sign-in button")]
    issuer: Issuer
    client_id: Annotated[Text, Field(min_length=1, max_length=300)]
    client_secret: Annotated[Text | None, Field(max_length=2000, description="Write-only; none: a public client "
                                                "(PKCE alone)")] = None
    scopes: Annotated[Text, Field(max_length=300)] = "openid email profile"
    role_claim: Claim = "groups"
    role_mappings: Annotated[list[RoleMapping], Field(max_length=100)] = []
    group_mappings: GroupMappings = []
    default_role: UserRole = UserRole.user
    enabled: bool = True
    password_login: Annotated[bool, Field(description="false: password sign-in is refused "
                                          "(403 password_login_disabled) while this provider is enabled")] = True

    _scopes = field_validator("scopes")(_with_openid)


class SsoProviderUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[Name | None, Field(max_length=100)] = None
    issuer: Issuer | None = None
    client_id: Annotated[Text | None, Field(min_length=1, max_length=300)] = None
    client_secret: Annotated[Text | None, Field(max_length=2000, description="Write-only; \"\" removes it")] = None
    scopes: Annotated[Text | None, Field(max_length=300)] = None
    role_claim: Claim | None = None
    role_mappings: Annotated[list[RoleMapping] | None, Field(max_length=100)] = None
    group_mappings: GroupMappings | None = None
    default_role: UserRole | None = None
    enabled: bool | None = None
    password_login: bool | None = None

    _scopes = field_validator("scopes")(_with_openid)


class SsoProviderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    name: str
    issuer: str
    client_id: str
    has_client_secret: bool
    scopes: str
    role_claim: str
    role_mappings: list[RoleMapping]
    group_mappings: list[GroupMapping]
    default_role: UserRole
    enabled: bool
    password_login: bool
    created_at: datetime
    updated_at: datetime


class SignInOptions(BaseModel):
    """What the sign-in page offers for an organisation."""

    password_login: bool
    providers: list["SignInProvider"]


class SignInProvider(BaseModel):
    id: uuid.UUID
    name: str


class SsoStart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant: Annotated[Text, Field(min_length=1, max_length=200, description="The organisation (id or name)")]
    redirect_uri: Annotated[AnyHttpUrl, Field(description="Where the provider sends the browser back with "
                                              "`code` and `state` (registered at the provider)")]


class SsoStarted(BaseModel):
    authorization_url: str = Field(description="Send the browser here")
    state: str


class SsoCallback(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Annotated[Text, Field(min_length=1, max_length=2000)]
    state: Annotated[Text, Field(min_length=1, max_length=200)]
    refresh_token_in: Literal["body", "cookie"] = "body"  # noqa: S105 - a place, not a password
