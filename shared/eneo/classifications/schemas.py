import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from eneo.core.text import Name, Text


class ClassificationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    description: Text = Field("", max_length=5000)


class ClassificationUpdate(BaseModel):
    """Rename or describe; the order changes only through `reorder`."""

    model_config = ConfigDict(extra="forbid")
    name: Name | None = None
    description: Text | None = Field(None, max_length=5000)


class Reorder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[uuid.UUID] = Field(max_length=1000, description="Every level of the organisation, lowest first")


class ClassificationRef(BaseModel):
    """A level as spaces and models show it."""

    id: uuid.UUID
    name: str
    position: int = Field(description="1 is the lowest level; unclassified (null) is below every level")


class ClassificationOut(ClassificationRef):
    description: str
    created_at: datetime
    updated_at: datetime


class AssistantRef(BaseModel):
    """An assistant that a change left unable to answer (its model is classified below its space)."""

    id: uuid.UUID
    name: str
    space_id: uuid.UUID


class CollectionRef(BaseModel):
    """A collection (or a website's pages, `kind` `website`) whose embedding model a change left below its space."""

    id: uuid.UUID
    name: str
    space_id: uuid.UUID
    kind: str = Field(description="`collection`, or `website` (then `id` is the website's collection)")


class Stopped(BaseModel):
    stopped_assistants: list[AssistantRef] = Field(
        default_factory=list,
        description="Assistants that answered before this change and are refused now, because their model's "
                    "level (or that of one of their collections' embedding models) is below their space's: "
                    "move them to a qualifying model, or change the levels")
    stopped_collections: list[CollectionRef] = Field(
        default_factory=list,
        description="Collections and websites searchable before this change and refused now, because their "
                    "embedding model's level is below their space's")


class ClassificationList(BaseModel):
    items: list[ClassificationOut]


class Reordered(ClassificationList, Stopped):
    """The levels in their new order, and the assistants the new order stopped."""
