import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from eneo.core.text import Name, Text
from eneo.permissions.policy import BUILTIN_IDS, Permission
from eneo.users.models import UserRole, UserState

# The policy (length, common passwords, ...) is eneo.auth.passwords, checked by the service so that each
# reason has its own code; the schema only caps what is read.
Password = Annotated[Text, Field(max_length=4096, description="12 to 256 characters of any printable text; "
                                 "not a common password, one repeated character or built on your e-mail name")]


class UserCreate(BaseModel):
    """Without a password the user is invited: the answer carries a one-time invitation token."""

    model_config = ConfigDict(extra="forbid")
    email: EmailStr
    name: Name
    role: UserRole = UserRole.user
    role_id: uuid.UUID | None = Field(None, description="A role of /api/v1/roles/ (built-in or custom); "
                                      "instead of `role`")
    password: Password | None = None


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    role: UserRole | None = None
    role_id: uuid.UUID | None = Field(None, description="A role of /api/v1/roles/ (built-in or custom); "
                                      "instead of `role`")
    state: Literal[UserState.active, UserState.deactivated] | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    name: str
    role: UserRole
    role_id: uuid.UUID | None = Field(None, description="The tenant role (/api/v1/roles/) that decides the "
                                      "user's permissions: a custom one, or the built-in one of `role`")
    state: UserState
    created_at: datetime
    last_login_at: datetime | None
    totp_enabled: bool = Field(False, description="Signs in with a code from an authenticator app too")

    @model_validator(mode="after")
    def _builtin_role_id(self) -> "UserOut":
        if self.role_id is None:
            self.role_id = BUILTIN_IDS[self.role]
        return self


class UserMe(UserOut):
    permissions: list[Permission] = Field(description="What the user's role allows (docs/permissions.md); "
                                          "clients hide what the user cannot do")


class UserCreated(UserOut):
    invitation_token: str | None = Field(None, description="Shown once; send it to the invited user")


class Invitation(BaseModel):
    invitation_token: str = Field(description="Shown once; send it to the user")
    expires_at: datetime


class InvitationAccept(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: Text = Field(min_length=10, max_length=200)
    password: Password


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: Text = Field(max_length=256)
    new_password: Password


class AccessToken(BaseModel):
    """OAuth2's token response (RFC 6749 5.1). The refresh token is here unless it went into the
    `eneo_refresh` cookie (`refresh_token_in=cookie`, for browsers); see docs/auth.md."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int = Field(description="Seconds the access token is valid (minutes: renew it with the refresh token)")
    refresh_token: str | None = Field(None, description="Renews the access token once (POST /api/v1/users/login/"
                                                        "refresh/); absent when it is in the cookie")
    refresh_expires_in: int = Field(description="Seconds until the session ends unless refreshed before")


class RefreshRequest(BaseModel):
    """Browsers send nothing: their refresh token is the `eneo_refresh` cookie."""

    model_config = ConfigDict(extra="forbid")
    refresh_token: Text | None = Field(None, max_length=200)


class TotpStart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: Text = Field(max_length=256, description="Your current password")


class TotpEnrolment(BaseModel):
    """Shown once: add it to an authenticator app, then confirm with a code it shows."""

    secret: str = Field(description="The shared secret in base32, for apps that cannot read the URI")
    otpauth_uri: str = Field(description="otpauth://totp/... for an authenticator app (as a QR code or pasted)")


class TotpCode(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Text = Field(max_length=64, description="The 6-digit code your authenticator app shows")


class TotpDisable(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: Text = Field(max_length=256, description="Your current password")
    code: Text = Field(max_length=64, description="A code from your authenticator app, or a recovery code")


class RecoveryCodes(BaseModel):
    """Shown once: each signs in once in place of a code, for when the authenticator app is lost."""

    recovery_codes: list[str]
