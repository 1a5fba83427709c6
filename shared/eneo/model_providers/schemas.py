import re
import uuid
from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, StringConstraints

from eneo.classifications.schemas import Stopped
from eneo.core.text import Name
from eneo.model_providers.models import MAX_DIMENSIONS, ProviderType

_API_VERSION = re.compile(r"[A-Za-z0-9._-]{1,50}")


def _http_url(value: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    if parts.username or parts.password:
        # The URL is stored and shown in clear; credentials belong in api_key, which is encrypted.
        raise ValueError("must not contain credentials; send the key as api_key")
    if not value.isprintable() or " " in value:
        raise ValueError("must be a URL without spaces or control characters")
    return value.rstrip("/")


def _key_text(value: SecretStr) -> SecretStr:
    plain = value.get_secret_value()
    if not plain or len(plain) > 1000 or not plain.isprintable() or any(c.isspace() for c in plain):
        raise ValueError("must be 1 to 1000 printable characters without spaces")
    return value


def _api_version(value: str) -> str:
    if not _API_VERSION.fullmatch(value):
        raise ValueError("must look like 2024-06-01 (letters, digits, '.', '-', '_')")
    return value


HttpUrl = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_http_url)]
ApiKey = Annotated[SecretStr, AfterValidator(_key_text)]
ApiVersion = Annotated[str, AfterValidator(_api_version)]


class ProviderCreate(BaseModel):
    """Which fields a type needs: openai and anthropic an api_key (base_url optional); azure an api_key,
    endpoint and api_version; openai_compatible a base_url (api_key optional)."""

    model_config = ConfigDict(extra="forbid")
    name: Name
    type: ProviderType
    api_key: ApiKey | None = Field(None, description="Stored encrypted; never returned")
    base_url: HttpUrl | None = None
    endpoint: HttpUrl | None = Field(None, description="Azure OpenAI resource endpoint")
    api_version: ApiVersion | None = Field(None, description="Azure OpenAI API version")
    local: bool = Field(False, description=(
        "Runs on this organisation's own infrastructure (its vLLM, Ollama or llama.cpp server): personal data "
        "is not masked for it, and assistants may route questions holding personal data to its models "
        "(openai_compatible only)"))


class ProviderUpdate(BaseModel):
    """Fields to change; `api_key: null` removes the key (only openai_compatible may have none). Changing
    base_url or endpoint of a provider that has a key needs `api_key` (or null) in the same request."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    api_key: ApiKey | None = None
    base_url: HttpUrl | None = None
    endpoint: HttpUrl | None = None
    api_version: ApiVersion | None = None
    local: bool | None = None


class ProviderOut(BaseModel):
    id: uuid.UUID
    name: str
    type: ProviderType
    base_url: str | None
    endpoint: str | None
    api_version: str | None
    has_api_key: bool
    api_key_last4: str | None = Field(description="The key's last 4 characters, for keys of 16 or more")
    managed: bool = Field(description="Registered by the deployment (the local model server); read-only")
    local: bool = Field(description="Runs on the organisation's own infrastructure (the managed one always does)")
    created_at: datetime
    updated_at: datetime


class ConnectionTest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: Name | None = Field(None, description="A model (Azure: deployment) to try; default: list models")


class ConnectionResult(BaseModel):
    """The provider's verdict. A refusal is still a 200: the test ran, and this is its result."""

    ok: bool
    code: str | None = None
    message: str | None = None
    provider_status: int | None = Field(None, description="The provider's HTTP status, when it answered")


class ModelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider_id: uuid.UUID
    name: Name = Field(description="The model id at the provider; for Azure, the deployment name")
    display_name: Name | None = Field(None, description="What users see; default: name")
    context_window: int = Field(gt=0, le=100_000_000)
    max_output_tokens: int | None = Field(None, gt=0, le=100_000_000)
    enabled: bool = True
    is_default: bool = False


class ModelUpdate(BaseModel):
    """Fields to change. `is_default: true` moves the default here; disabling the default clears it."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    display_name: Name | None = None
    context_window: int | None = Field(None, gt=0, le=100_000_000)
    max_output_tokens: int | None = Field(None, gt=0, le=100_000_000)
    enabled: bool | None = None
    is_default: bool | None = None
    security_classification_id: uuid.UUID | None = Field(
        None, description="A level of /api/v1/security-classifications/; null: unclassified (the lowest)")
    allowed_group_ids: list[uuid.UUID] | None = Field(
        None, max_length=100, description="Only members of these user groups may use the model; [] or null: everyone")


class ModelOut(BaseModel):
    id: uuid.UUID
    provider_id: uuid.UUID
    provider_name: str
    provider_type: ProviderType
    local: bool = Field(description="Its provider runs on the organisation's own infrastructure")
    name: str
    display_name: str
    context_window: int
    max_output_tokens: int | None
    enabled: bool
    is_default: bool
    security_classification_id: uuid.UUID | None = Field(
        description="Its security classification; only spaces at this level or lower may use it (null: unclassified)")
    allowed_group_ids: list[uuid.UUID] = Field(
        default_factory=list, description="Only members of these user groups may use it; empty: everyone")
    created_at: datetime
    updated_at: datetime


class ModelUpdated(ModelOut, Stopped):
    """The model after a PATCH, and the assistants a new security classification stopped."""


class EmbeddingModelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider_id: uuid.UUID = Field(description="An openai, azure or openai_compatible provider")
    name: Name = Field(description="The model id at the provider; for Azure, the deployment name")
    dimensions: int = Field(ge=1, le=MAX_DIMENSIONS, description="Length of the vectors the model returns")
    max_input_tokens: int = Field(512, ge=1, le=1_000_000)
    enabled: bool = True
    is_default: bool = False


class EmbeddingModelUpdate(BaseModel):
    """Name and dimensions are fixed (another name is another vector space); the managed local model
    takes `enabled` and `is_default` only."""

    model_config = ConfigDict(extra="forbid")
    max_input_tokens: int | None = Field(None, ge=1, le=1_000_000)
    enabled: bool | None = None
    is_default: bool | None = None
    security_classification_id: uuid.UUID | None = Field(
        None, description="A level of /api/v1/security-classifications/; null: unclassified (the lowest)")
    allowed_group_ids: list[uuid.UUID] | None = Field(
        None, max_length=100, description="Only members of these user groups may use the model; [] or null: everyone")


class EmbeddingModelOut(BaseModel):
    id: uuid.UUID
    provider_id: uuid.UUID | None = Field(description="None: the built-in local model")
    provider_name: str | None
    provider_type: ProviderType | None
    name: str
    dimensions: int
    max_input_tokens: int
    enabled: bool
    is_default: bool
    managed: bool = Field(description="Built in (the local model); only enabled, is_default and "
                                      "security_classification_id can change")
    security_classification_id: uuid.UUID | None = Field(
        description="Its security classification; only spaces at this level or lower may use it (null: unclassified)")
    allowed_group_ids: list[uuid.UUID] = Field(
        default_factory=list, description="Only members of these user groups may use it; empty: everyone")
    created_at: datetime
    updated_at: datetime


class EmbeddingModelUpdated(EmbeddingModelOut, Stopped):
    """The model after a PATCH, and the collections (and assistants using them) a new security
    classification stopped."""


class TranscriptionModelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    provider_id: uuid.UUID = Field(description="An openai, azure or openai_compatible provider")
    name: Name = Field(description="The model id at the provider (e.g. whisper-1); for Azure, the deployment name")
    enabled: bool = True
    is_default: bool = False


class TranscriptionModelUpdate(BaseModel):
    """The name is fixed (another name is another model: create it); enable, disable, make default, classify."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool | None = None
    is_default: bool | None = None
    security_classification_id: uuid.UUID | None = Field(
        None, description="A level of /api/v1/security-classifications/; null: unclassified (the lowest)")
    allowed_group_ids: list[uuid.UUID] | None = Field(
        None, max_length=100, description="Only members of these user groups may use the model; [] or null: everyone")


class TranscriptionModelOut(BaseModel):
    id: uuid.UUID
    provider_id: uuid.UUID
    provider_name: str
    provider_type: ProviderType
    name: str
    enabled: bool
    is_default: bool = Field(description="Audio documents are transcribed with the default (else the oldest "
                                         "enabled model)")
    security_classification_id: uuid.UUID | None = Field(
        description="Its security classification; only spaces at this level or lower may use it (null: unclassified)")
    allowed_group_ids: list[uuid.UUID] = Field(
        default_factory=list, description="Only members of these user groups may use it; empty: everyone")
    created_at: datetime
    updated_at: datetime
