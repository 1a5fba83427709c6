"""The rule for the models that read a space's documents: embedding models (a collection's, a website's)
and transcription models (audio uploaded to a collection).

Decisions (and why):
* A collection's embedding model reads every document of it and every question searched in it, so it must
  be classified at least at the collection's space's level, like an assistant's completion model. Bound at
  a collection's or website's create or update: 422 `embedding_classification_too_low` on
  `embedding_model_id`. Used later (a search, a question to an assistant using the collection, ingestion)
  after a level changed: 409 with the same code on requests, a failed document in ingestion; both before
  the model sees a byte.
* Audio goes to the organisation's transcription model: a file of a space classified above it fails
  `transcription_classification_too_low` (retry once the levels are right) instead of being sent.
* Changes re-check like the completion rule: `blocked_collections` lists every collection (and website)
  whose embedding model is below its space; an assistant using one is blocked too (see service).
"""

import uuid

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from eneo.classifications.models import SecurityClassification
from eneo.classifications.schemas import CollectionRef
from eneo.core.errors import Conflict, ValidationFailed
from eneo.knowledge.models import Group
from eneo.model_providers.models import EmbeddingModel, TranscriptionModel
from eneo.spaces.models import Space

EMBEDDING_CODE = "embedding_classification_too_low"
TRANSCRIPTION_CODE = "transcription_classification_too_low"


class EmbeddingClassificationTooLow(Conflict):
    code = EMBEDDING_CODE


def _label(level: SecurityClassification | None) -> str:
    return "unclassified" if level is None else repr(level.name)


async def _levels(session: AsyncSession, tenant_id: uuid.UUID, space_id: uuid.UUID, model_level_id: uuid.UUID | None
                  ) -> tuple[SecurityClassification | None, SecurityClassification | None] | None:
    """(space's level, model's level) when the model is classified below the space; None when it may serve."""
    space_level = await session.scalar(
        select(SecurityClassification).join(Space, Space.security_classification_id == SecurityClassification.id)
        .where(Space.id == space_id, Space.tenant_id == tenant_id))
    if space_level is None:
        return None
    model_level = None if model_level_id is None else await session.scalar(select(SecurityClassification).where(
        SecurityClassification.id == model_level_id, SecurityClassification.tenant_id == tenant_id))
    if model_level is not None and model_level.position >= space_level.position:
        return None
    return space_level, model_level


async def check_embedding_for_space(session: AsyncSession, tenant_id: uuid.UUID, space_id: uuid.UUID,
                                    model: EmbeddingModel, *, field: str | None = None) -> None:
    """Refuse an embedding model classified below the space: 422 on `field` when binding it, else 409."""
    found = await _levels(session, tenant_id, space_id, model.security_classification_id)
    if found is None:
        return
    space_level, model_level = found
    why = (f"the embedding model {model.name!r} is classified {_label(model_level)}, below this space's "
           f"security classification {_label(space_level)}")
    if field is None:
        raise EmbeddingClassificationTooLow(
            f"This collection cannot be searched: {why}. An administrator must move the collection to an "
            f"embedding model classified {_label(space_level)} or higher, or change the levels")
    raise ValidationFailed(f"Invalid request: {field}: {why}; choose an embedding model classified "
                           f"{_label(space_level)} or higher", code=EMBEDDING_CODE,
                           details=[{"field": field, "message": why, "type": EMBEDDING_CODE}])


async def check_group_embedding(session: AsyncSession, tenant_id: uuid.UUID, group_ids: list[uuid.UUID]) -> None:
    """409 for the first of these collections whose embedding model is classified below its space."""
    if not group_ids:
        return
    blocked = await blocked_collections(session, tenant_id, group_ids)
    if blocked:
        first = next(iter(blocked.values()))
        model = await session.scalar(select(EmbeddingModel).join(Group, Group.embedding_model_id == EmbeddingModel.id)
                                     .where(Group.id == first.id, Group.tenant_id == tenant_id))
        assert model is not None, "blocked_collections joined it"
        await check_embedding_for_space(session, tenant_id, first.space_id, model)


async def transcription_refusal(session: AsyncSession, tenant_id: uuid.UUID, group_id: uuid.UUID,
                                model: TranscriptionModel) -> str | None:
    """Why audio of this collection may not go to `model` (its level is below the space's), or None."""
    space_id = await session.scalar(select(Group.space_id).where(Group.id == group_id, Group.tenant_id == tenant_id))
    if space_id is None:
        return None
    found = await _levels(session, tenant_id, space_id, model.security_classification_id)
    if found is None:
        return None
    space_level, model_level = found
    return (f"The transcription model {model.name!r} is classified {_label(model_level)}, below this space's "
            f"security classification {_label(space_level)}: an administrator must classify a transcription "
            f"model {_label(space_level)} or higher (or change the levels), then retry")


async def blocked_collections(session: AsyncSession, tenant_id: uuid.UUID,
                              among: list[uuid.UUID] | None = None) -> dict[uuid.UUID, CollectionRef]:
    """The tenant's collections and websites whose embedding model is classified below their space, by id."""
    space_level, model_level = aliased(SecurityClassification), aliased(SecurityClassification)
    query = (select(Group.id, Group.name, Group.space_id, Group.kind)
             .join(Space, Space.id == Group.space_id)
             .join(EmbeddingModel, EmbeddingModel.id == Group.embedding_model_id)
             .join(space_level, space_level.id == Space.security_classification_id)
             .outerjoin(model_level, model_level.id == EmbeddingModel.security_classification_id)
             .where(Group.tenant_id == tenant_id,
                    or_(model_level.id.is_(None), model_level.position < space_level.position))
             .order_by(Group.name, Group.id))
    if among is not None:
        query = query.where(Group.id.in_(among))
    rows = await session.execute(query)
    return {r.id: CollectionRef(id=r.id, name=r.name, space_id=r.space_id, kind=r.kind) for r in rows}
