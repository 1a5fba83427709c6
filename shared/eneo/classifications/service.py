"""Security classifications: the rule "a space uses a model only if the model's level is at least the
space's", and the levels' administration.

Decisions (and why):
* NULL is "unclassified", below every level: an unclassified space takes any model, an unclassified
  model serves only unclassified spaces. A tenant without levels sees no change.
* The rule is checked where a model is bound to a space (an assistant's create or update, a draft) and
  again on every question: a level changed since then stops the assistant, with 409
  `model_classification_too_low` naming both levels, rather than sending the space's data to a model
  classified below it.
* Every change that can break the rule (a space's level, a model's, the levels' order) answers with the
  assistants it stopped (`stopped_assistants`): the admin learns at once what to fix. The change itself
  is not refused: raising a space's level is exactly what an admin must be able to do at once.
* A level still carried by a space or model is not deleted (409 `classification_in_use`, with counts;
  the foreign keys refuse it too): deleting it would silently make those spaces unclassified.
* Creating, reordering and deleting take a per-tenant lock: positions stay 1..n without gaps or races.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from eneo.assistants.models import Assistant, AssistantGroup
from eneo.auth.principal import Principal
from eneo.classifications.knowledge import blocked_collections
from eneo.classifications.models import SecurityClassification
from eneo.classifications.schemas import (
    AssistantRef,
    ClassificationCreate,
    ClassificationOut,
    ClassificationRef,
    ClassificationUpdate,
    CollectionRef,
    Reordered,
    Stopped,
)
from eneo.core.db import UnitOfWork
from eneo.core.errors import Conflict, NotFound, ValidationFailed
from eneo.model_providers.models import CompletionModel, EmbeddingModel, TranscriptionModel
from eneo.spaces.models import Space

LOCK = "eneo.security_classifications"
CARRIERS: tuple[tuple[type[Space | CompletionModel | EmbeddingModel | TranscriptionModel], str], ...] = (
    (Space, "space"), (CompletionModel, "completion model"), (EmbeddingModel, "embedding model"),
    (TranscriptionModel, "transcription model"))


class ClassificationTooLow(Conflict):
    code = "model_classification_too_low"


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"Invalid request: {field}: {message}",
                            details=[{"field": field, "message": message, "type": "value_error"}])


def ref(level: SecurityClassification | None) -> ClassificationRef | None:
    return None if level is None else ClassificationRef(id=level.id, name=level.name, position=level.position)


def out(level: SecurityClassification) -> ClassificationOut:
    return ClassificationOut(id=level.id, name=level.name, position=level.position, description=level.description,
                             created_at=level.created_at, updated_at=level.updated_at)


def label(level: SecurityClassification | None) -> str:
    return "unclassified" if level is None else repr(level.name)


def permits(space_level: SecurityClassification | None, model_level: SecurityClassification | None) -> bool:
    """The rule: a model may serve a space if its level is at least the space's (NULL is the lowest)."""
    if space_level is None:
        return True
    return model_level is not None and model_level.position >= space_level.position


async def level_of(session: AsyncSession, tenant_id: uuid.UUID, level_id: uuid.UUID | None
                   ) -> SecurityClassification | None:
    if level_id is None:
        return None
    return await session.scalar(select(SecurityClassification).where(
        SecurityClassification.id == level_id, SecurityClassification.tenant_id == tenant_id))


async def chosen_level(session: AsyncSession, tenant_id: uuid.UUID, level_id: uuid.UUID | None,
                       field: str = "security_classification_id") -> SecurityClassification | None:
    """The level a request names (None clears it); 422 naming `field` for an id that is not the tenant's."""
    level = await level_of(session, tenant_id, level_id)
    if level_id is not None and level is None:
        raise _invalid(field, "no security classification with this id")
    return level


async def check_model_for_space(session: AsyncSession, tenant_id: uuid.UUID, space_id: uuid.UUID,
                                model: CompletionModel, *, field: str | None = None) -> None:
    """Refuse a model classified below the space: 422 on `field` when binding it, else 409 (a question)."""
    space_level_id = await session.scalar(select(Space.security_classification_id).where(
        Space.id == space_id, Space.tenant_id == tenant_id))
    space_level = await level_of(session, tenant_id, space_level_id)
    model_level = await level_of(session, tenant_id, model.security_classification_id)
    if permits(space_level, model_level):
        return
    why = (f"the model {model.display_name!r} is classified {label(model_level)}, below this space's "
           f"security classification {label(space_level)}")
    if field is None:
        raise ClassificationTooLow(f"This assistant cannot answer: {why}. An administrator must move the assistant "
                                   f"to a model classified {label(space_level)} or higher, or change the levels")
    raise ValidationFailed(f"Invalid request: {field}: {why}; choose a model classified {label(space_level)} or "
                           "higher", code="model_classification_too_low",
                           details=[{"field": field, "message": why, "type": "model_classification_too_low"}])


async def blocked_assistants(session: AsyncSession, tenant_id: uuid.UUID,
                             collections: Sequence[uuid.UUID] = ()) -> dict[uuid.UUID, AssistantRef]:
    """The tenant's assistants whose model is classified below their space, or that use one of the blocked
    `collections` (their questions are searched with an embedding model below the space), by id."""
    space_level, model_level = aliased(SecurityClassification), aliased(SecurityClassification)
    rows = await session.execute(
        select(Assistant.id, Assistant.name, Assistant.space_id)
        .join(Space, Space.id == Assistant.space_id)
        .join(CompletionModel, CompletionModel.id == Assistant.completion_model_id)
        .join(space_level, space_level.id == Space.security_classification_id)
        .outerjoin(model_level, model_level.id == CompletionModel.security_classification_id)
        .where(Assistant.tenant_id == tenant_id,
               or_(model_level.id.is_(None), model_level.position < space_level.position)))
    found = {r.id: AssistantRef(id=r.id, name=r.name, space_id=r.space_id) for r in rows}
    if collections:
        rows = await session.execute(
            select(Assistant.id, Assistant.name, Assistant.space_id).distinct()
            .join(AssistantGroup, AssistantGroup.assistant_id == Assistant.id)
            .where(Assistant.tenant_id == tenant_id, AssistantGroup.group_id.in_(list(collections))))
        found |= {r.id: AssistantRef(id=r.id, name=r.name, space_id=r.space_id) for r in rows}
    return dict(sorted(found.items(), key=lambda item: (item[1].name, str(item[0]))))


@dataclass(frozen=True)
class Blocked:
    """What cannot work under the current levels: assistants, and collections (with websites)."""

    assistants: dict[uuid.UUID, AssistantRef]
    collections: dict[uuid.UUID, CollectionRef]


async def blocked(session: AsyncSession, tenant_id: uuid.UUID) -> Blocked:
    collections = await blocked_collections(session, tenant_id)
    return Blocked(await blocked_assistants(session, tenant_id, list(collections)), collections)


def newly_stopped(before: Blocked, after: Blocked) -> Stopped:
    """What a change stopped: blocked after it, not before (one already stopped is not listed again)."""
    return Stopped(stopped_assistants=[a for i, a in after.assistants.items() if i not in before.assistants],
                   stopped_collections=[c for i, c in after.collections.items() if i not in before.collections])


# --- administration --------------------------------------------------------------------------------


async def _lock(uow: UnitOfWork, tenant_id: uuid.UUID) -> None:
    await uow.session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"{LOCK}:{tenant_id}", 0))))


async def _levels(session: AsyncSession, tenant_id: uuid.UUID) -> list[SecurityClassification]:
    return list((await session.scalars(select(SecurityClassification).where(
        SecurityClassification.tenant_id == tenant_id).order_by(SecurityClassification.position))).all())


async def _level(uow: UnitOfWork, p: Principal, level_id: uuid.UUID) -> SecurityClassification:
    level = await level_of(uow.session, p.tenant_id, level_id)
    if level is None:
        raise NotFound("Security classification")
    return level


def _name_taken() -> Conflict:
    return Conflict("A security classification with this name exists already", code="classification_name_taken")


async def _flush_names(uow: UnitOfWork, p: Principal, name: str | None, level_id: uuid.UUID | None) -> None:
    """Refuse a name another level has (409), before the unique index would abort the transaction."""
    if name is None:
        return
    taken = await uow.session.scalar(select(SecurityClassification.id).where(
        SecurityClassification.tenant_id == p.tenant_id, SecurityClassification.name == name,
        SecurityClassification.id != level_id if level_id else SecurityClassification.id.is_not(None)))
    if taken is not None:
        raise _name_taken()


async def list_levels(uow: UnitOfWork, p: Principal) -> list[ClassificationOut]:
    return [out(level) for level in await _levels(uow.session, p.tenant_id)]


async def create_level(uow: UnitOfWork, p: Principal, data: ClassificationCreate) -> ClassificationOut:
    """A new level, above every existing one (reorder to put it elsewhere)."""
    await _lock(uow, p.tenant_id)
    await _flush_names(uow, p, data.name, None)
    top = await uow.session.scalar(select(func.max(SecurityClassification.position)).where(
        SecurityClassification.tenant_id == p.tenant_id)) or 0
    level = SecurityClassification(tenant_id=p.tenant_id, name=data.name, description=data.description,
                                   position=top + 1)
    uow.session.add(level)
    await uow.session.flush()
    return out(level)


async def get_level(uow: UnitOfWork, p: Principal, level_id: uuid.UUID) -> ClassificationOut:
    return out(await _level(uow, p, level_id))


async def update_level(uow: UnitOfWork, p: Principal, level_id: uuid.UUID, data: ClassificationUpdate
                       ) -> ClassificationOut:
    level = await _level(uow, p, level_id)
    await _flush_names(uow, p, data.name, level.id)
    for name, value in data.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(level, name, value)
    await uow.session.flush()
    return out(level)


async def _renumber(uow: UnitOfWork, ordered: Sequence[SecurityClassification]) -> None:
    for position, level in enumerate(ordered, start=1):
        level.position = position
    await uow.session.flush()  # the unique position is checked at commit, when all have moved


async def reorder(uow: UnitOfWork, p: Principal, ids: list[uuid.UUID]) -> Reordered:
    """Put the levels in the order given (lowest first): exactly the tenant's levels, each once."""
    await _lock(uow, p.tenant_id)
    levels = {level.id: level for level in await _levels(uow.session, p.tenant_id)}
    if len(set(ids)) != len(ids) or set(ids) != set(levels):
        raise _invalid("ids", f"must list each of the organisation's {len(levels)} security classifications once "
                              "(an id of no level, a repeated or a missing one)")
    before = await blocked(uow.session, p.tenant_id)
    await _renumber(uow, [levels[i] for i in ids])
    after = await blocked(uow.session, p.tenant_id)
    return Reordered(items=[out(levels[i]) for i in ids], **dict(newly_stopped(before, after)))


async def delete_level(uow: UnitOfWork, p: Principal, level_id: uuid.UUID) -> None:
    await _lock(uow, p.tenant_id)
    level = await _level(uow, p, level_id)
    using = []
    for cls, noun in CARRIERS:
        count = await uow.session.scalar(select(func.count()).select_from(cls).where(
            cls.tenant_id == p.tenant_id, cls.security_classification_id == level.id))
        if count:
            using.append(f"{count} {noun}(s)")
    if using:
        raise Conflict(f"{', '.join(using)} carry the security classification {level.name!r}; give them another "
                       "level (or none) first", code="classification_in_use")
    await uow.session.delete(level)
    await uow.session.flush()
    await _renumber(uow, await _levels(uow.session, p.tenant_id))
