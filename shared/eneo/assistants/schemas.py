import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from eneo.assistants.models import PersonalData
from eneo.core.text import Name, Text

SYSTEM_PROMPT_MAX = 100_000
GROUPS_MAX = 50  # collections one assistant retrieves from; each is searched on every question


class ModelKwargs(BaseModel):
    """Sampling settings sent with every question; unset ones are left to the provider.

    `max_tokens` is also bounded by the chosen model (its max_output_tokens, else its context window).
    """

    model_config = ConfigDict(extra="forbid")
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1)


class AssistantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    description: Text = Field("", max_length=5000)
    system_prompt: Text = Field("", max_length=SYSTEM_PROMPT_MAX)
    completion_model_id: uuid.UUID | None = Field(None, description="An enabled model; default: the tenant's")
    model_kwargs: ModelKwargs = Field(default_factory=ModelKwargs)
    published: bool = Field(False, description="Visible to the space's viewers")
    groups: list[uuid.UUID] = Field(default_factory=list, max_length=GROUPS_MAX,
                                    description="Knowledge collections of the same space to answer from")
    websites: list[uuid.UUID] = Field(default_factory=list, max_length=GROUPS_MAX,
                                      description="Crawled websites of the same space to answer from")
    personal_data: PersonalData = Field(PersonalData.tenant, description=(
        "Personal data before an external model provider: `tenant` as the organisation chose "
        "(protect_personal_data), `mask` masked always, `local_model` questions holding any answered by a local "
        "model (docs/personal-data.md)"))


class AssistantUpdate(BaseModel):
    """Fields to change. A new system_prompt is recorded as a new prompt version."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    description: Text | None = Field(None, max_length=5000)
    system_prompt: Text | None = Field(None, max_length=SYSTEM_PROMPT_MAX)
    completion_model_id: uuid.UUID | None = None
    model_kwargs: ModelKwargs | None = Field(None, description="Replaces the settings as a whole")
    published: bool | None = None
    groups: list[uuid.UUID] | None = Field(None, max_length=GROUPS_MAX,
                                           description="Replaces the collections as a whole; [] removes them")
    websites: list[uuid.UUID] | None = Field(None, max_length=GROUPS_MAX,
                                             description="Replaces the websites as a whole; [] removes them")
    personal_data: PersonalData | None = None


class AssistantDraft(BaseModel):
    """Unsaved editor settings to ask an assistant with (its editor's test pane): each field left out is as
    saved. Only the assistant's editors may ask with one, and it changes nothing saved."""

    model_config = ConfigDict(extra="forbid")
    system_prompt: Text | None = Field(None, max_length=SYSTEM_PROMPT_MAX)
    completion_model_id: uuid.UUID | None = None
    model_kwargs: ModelKwargs | None = None
    groups: list[uuid.UUID] | None = Field(None, max_length=GROUPS_MAX)
    websites: list[uuid.UUID] | None = Field(None, max_length=GROUPS_MAX,
                                             description="The websites to answer from (ids, as in an update)")
    personal_data: PersonalData | None = None


class GroupRef(BaseModel):
    id: uuid.UUID
    name: str


class WebsiteRef(BaseModel):
    id: uuid.UUID
    name: str
    url: str


class AssistantOut(BaseModel):
    id: uuid.UUID
    space_id: uuid.UUID
    name: str
    description: str
    system_prompt: str
    prompt_version: int
    completion_model_id: uuid.UUID
    model_kwargs: ModelKwargs
    published: bool
    groups: list[GroupRef] = Field(description="The knowledge collections it answers from")
    websites: list[WebsiteRef] = Field(default_factory=list, description="The crawled websites it answers from")
    personal_data: PersonalData
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class PromptVersionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    version: int
    text: str
    created_by: uuid.UUID | None
    created_at: datetime
