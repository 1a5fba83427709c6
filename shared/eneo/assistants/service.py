"""Assistant use cases. Visibility follows the space: members see published assistants, editors and
admins see (and change) all; everyone else, and every other tenant, gets 404.

An assistant's knowledge (`groups`, `websites`) are collections and websites of its own space: whoever may
use the assistant (a member of that space) may read them, so answers never quote a collection its users cannot open.
"""

import uuid
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from eneo.api_keys.models import KeyScope
from eneo.assistants.models import Assistant, AssistantGroup, AssistantPrompt, PersonalData
from eneo.assistants.schemas import (
    AssistantCreate,
    AssistantDraft,
    AssistantOut,
    AssistantUpdate,
    GroupRef,
    ModelKwargs,
    PromptVersionOut,
    WebsiteRef,
)
from eneo.auth.principal import Principal
from eneo.classifications.service import check_model_for_space
from eneo.core.db import UnitOfWork
from eneo.core.errors import BadRequest, Forbidden, NotFound, ValidationFailed
from eneo.core.ids import new_id
from eneo.core.pagination import paginate
from eneo.knowledge.models import Group
from eneo.knowledge.service.access import readable_group_ids
from eneo.model_providers.lookups import default_model, usable_model
from eneo.model_providers.models import CompletionModel
from eneo.permissions.model_access import require_model_access
from eneo.spaces.access import SpaceAccess
from eneo.spaces.models import SpaceRole
from eneo.spaces.policy import SpaceAction, allowed, require
from eneo.spaces.service import authorize
from eneo.websites import service as websites_service
from eneo.websites.models import Website

EDITORS = [role for role in SpaceRole if allowed(role, SpaceAction.edit_content)]


def _invalid(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"Invalid request: {field}: {message}",
                            details=[{"field": field, "message": message, "type": "value_error"}])


def assistant_out(a: Assistant, groups: list[GroupRef], websites: list[WebsiteRef] | None = None) -> AssistantOut:
    return AssistantOut(id=a.id, space_id=a.space_id, name=a.name, description=a.description,
                        system_prompt=a.system_prompt, prompt_version=a.prompt_version,
                        completion_model_id=a.completion_model_id, model_kwargs=ModelKwargs(**a.model_kwargs),
                        published=a.published, groups=groups, websites=websites or [],
                        personal_data=a.personal_data, created_by=a.created_by, created_at=a.created_at,
                        updated_at=a.updated_at)


async def groups_of(session: AsyncSession, tenant_id: uuid.UUID, assistant_ids: list[uuid.UUID]
                    ) -> dict[uuid.UUID, list[GroupRef]]:
    """Each assistant's collections (by name), in one query for a whole page of assistants."""
    rows = await session.execute(
        select(AssistantGroup.assistant_id, Group.id, Group.name)
        .join(Group, Group.id == AssistantGroup.group_id)
        .where(AssistantGroup.assistant_id.in_(assistant_ids), AssistantGroup.tenant_id == tenant_id,
               Group.kind == "collection")
        .order_by(Group.name, Group.id))
    found: dict[uuid.UUID, list[GroupRef]] = {i: [] for i in assistant_ids}
    for assistant_id, group_id, name in rows:
        found[assistant_id].append(GroupRef(id=group_id, name=name))
    return found


async def websites_of(session: AsyncSession, tenant_id: uuid.UUID, assistant_ids: list[uuid.UUID]
                      ) -> dict[uuid.UUID, list[WebsiteRef]]:
    """Each assistant's websites (their pages are the website's collection, kept in assistant_groups)."""
    rows = await session.execute(
        select(AssistantGroup.assistant_id, Website.id, Group.name, Website.url)
        .join(Website, Website.group_id == AssistantGroup.group_id).join(Group, Group.id == Website.group_id)
        .where(AssistantGroup.assistant_id.in_(assistant_ids), AssistantGroup.tenant_id == tenant_id)
        .order_by(Group.name, Website.id))
    found: dict[uuid.UUID, list[WebsiteRef]] = {i: [] for i in assistant_ids}
    for assistant_id, website_id, name, url in rows:
        found[assistant_id].append(WebsiteRef(id=website_id, name=name, url=url))
    return found


async def _out(session: AsyncSession, a: Assistant) -> AssistantOut:
    return assistant_out(a, (await groups_of(session, a.tenant_id, [a.id]))[a.id],
                         (await websites_of(session, a.tenant_id, [a.id]))[a.id])


async def _visible(uow: UnitOfWork, p: Principal, assistant_id: uuid.UUID, *, lock: bool = False
                   ) -> tuple[Assistant, SpaceRole]:
    query = (select(Assistant, SpaceAccess.role)
             .join(SpaceAccess, (SpaceAccess.space_id == Assistant.space_id) & (SpaceAccess.user_id == p.user_id))
             .where(Assistant.id == assistant_id, Assistant.tenant_id == p.tenant_id))
    row = (await uow.session.execute(query.with_for_update(of=Assistant) if lock else query)).first()
    if row is None or not (row[0].published or allowed(row[1], SpaceAction.edit_content)):
        raise NotFound("Assistant")
    return row[0], row[1]


async def _editable(uow: UnitOfWork, p: Principal, assistant_id: uuid.UUID) -> Assistant:
    """The assistant, locked for this transaction (prompt versions are numbered one writer at a time)."""
    assistant, role = await _visible(uow, p, assistant_id, lock=True)
    require(role, SpaceAction.edit_content)
    return assistant


async def usable_assistant(uow: UnitOfWork, p: Principal, assistant_id: uuid.UUID) -> Assistant:
    """The assistant, if the caller may ask it questions: a member of its space who sees it (published,
    or editor and up), and, for an assistant-scoped API key, only the key's own assistant."""
    if p.key_scope == KeyScope.assistant and p.assistant_id != assistant_id:
        raise Forbidden("This API key is restricted to another assistant", code="api_key_scope")
    assistant, _ = await _visible(uow, p, assistant_id)
    return assistant


async def draft_assistant(uow: UnitOfWork, p: Principal, assistant_id: uuid.UUID, draft: AssistantDraft
                          ) -> tuple[Assistant, uuid.UUID, dict[str, Any]]:
    """The assistant, the model a question to `draft` is answered by, and the draft as a question keeps it
    (only the fields it sets: `system_prompt`, `model_kwargs`, `groups` with the websites' collections,
    `personal_data`). Checked as an update
    would be, errors naming `draft.<field>`; only the assistant's editors may try a draft (403
    `space_role_required`)."""
    assistant = await usable_assistant(uow, p, assistant_id)
    _, role = await _visible(uow, p, assistant_id)
    require(role, SpaceAction.edit_content)
    try:
        if draft.completion_model_id is not None:
            model = await _model(uow, draft.completion_model_id)
            await _may_use(uow, p, model)
            await check_model_for_space(uow.session, p.tenant_id, assistant.space_id, model,
                                        field="completion_model_id")
        else:
            model = await uow.session.get_one(CompletionModel, assistant.completion_model_id)
        kept: dict[str, Any] = {}
        if draft.model_kwargs is not None:
            _check_kwargs(draft.model_kwargs, model)
            kept["model_kwargs"] = draft.model_kwargs.model_dump(exclude_none=True)
        else:
            _check_kwargs(ModelKwargs(**assistant.model_kwargs), model)
        if draft.groups is not None or draft.websites is not None:
            # the draft's collections and websites, each as saved when the draft leaves it out
            collections = (await _check_groups(uow, p, assistant.space_id, draft.groups)
                           if draft.groups is not None else await _saved_groups(uow, assistant, "collection"))
            sites = (await websites_service.website_groups(uow.session, p, assistant.space_id, draft.websites)
                     if draft.websites is not None else await _saved_groups(uow, assistant, "website"))
            kept["groups"] = [str(g) for g in [*collections, *sites]]
    except ValidationFailed as exc:
        for detail in exc.details:
            detail["field"] = f"draft.{detail['field']}"
        exc.message = exc.message.replace("Invalid request: ", "Invalid request: draft.", 1)
        raise
    if draft.system_prompt is not None:
        kept["system_prompt"] = draft.system_prompt
    if draft.personal_data is not None:
        kept["personal_data"] = draft.personal_data.value
    return assistant, model.id, kept


async def _saved_groups(uow: UnitOfWork, assistant: Assistant, kind: str) -> list[uuid.UUID]:
    """The assistant's saved collections (`kind` collection) or websites' collections (`kind` website)."""
    return list((await uow.session.scalars(select(AssistantGroup.group_id).join(
        Group, Group.id == AssistantGroup.group_id).where(
        AssistantGroup.assistant_id == assistant.id, Group.kind == kind))).all())


def as_drafted(assistant: Assistant, draft: dict[str, Any]) -> Assistant:
    """A copy of the assistant with a question's draft applied, never added to a session (nothing saved)."""
    return Assistant(id=assistant.id, tenant_id=assistant.tenant_id, space_id=assistant.space_id,
                     name=assistant.name, description=assistant.description,
                     system_prompt=draft.get("system_prompt", assistant.system_prompt),
                     prompt_version=assistant.prompt_version, completion_model_id=assistant.completion_model_id,
                     model_kwargs=draft.get("model_kwargs", assistant.model_kwargs), published=assistant.published,
                     personal_data=PersonalData(draft.get("personal_data", assistant.personal_data)),
                     created_by=assistant.created_by)


async def _model(uow: UnitOfWork, model_id: uuid.UUID | None) -> CompletionModel:
    """An enabled model of the tenant (the default when none is named), else a 422 naming the field."""
    if model_id is None:
        model = await default_model(uow)
        if model is None:
            raise _invalid("completion_model_id", "required: this organisation has no default model")
        return model
    model = await usable_model(uow, model_id)
    if model is None:
        raise _invalid("completion_model_id", "no enabled completion model with this id")
    return model


async def _may_use(uow: UnitOfWork, p: Principal, model: CompletionModel) -> None:
    """A model limited to user groups is bound only by their members (403 `model_not_allowed`)."""
    await require_model_access(uow, p.user_id, "completion", model.display_name, model.allowed_group_ids)


def _check_kwargs(kwargs: ModelKwargs, model: CompletionModel) -> None:
    limit = model.max_output_tokens or model.context_window
    if kwargs.max_tokens is not None and kwargs.max_tokens > limit:
        raise _invalid("model_kwargs.max_tokens", f"must be at most {limit} for this model")


async def _check_groups(uow: UnitOfWork, p: Principal, space_id: uuid.UUID, group_ids: list[uuid.UUID]
                        ) -> list[uuid.UUID]:
    """The ids (deduplicated, in order) if each is a collection of the assistant's space the caller reads.

    An id the caller cannot read (unknown, another tenant's, a space they are not in) gets the same
    422 as an unknown one, so the answer never tells which collections exist; a readable collection
    of another space is named (`group_not_in_space`): the assistant's users might not read it.
    """
    ids = list(dict.fromkeys(group_ids))
    if not ids:
        return []
    readable = set(await readable_group_ids(uow.session, p, ids))
    for group_id in ids:
        if group_id not in readable:
            raise _invalid("groups", f"no collection with id {group_id}")
    spaces = dict((await uow.session.execute(
        select(Group.id, Group.space_id).where(Group.id.in_(ids), Group.tenant_id == p.tenant_id,
                                               Group.kind == "collection"))).all())
    for group_id in ids:
        if group_id not in spaces:  # a website's pages: named by the website's id in `websites`
            raise _invalid("groups", f"no collection with id {group_id}")
        if spaces.get(group_id) != space_id:
            message = f"collection {group_id} is in another space; an assistant uses its own space's collections"
            raise ValidationFailed(f"Invalid request: groups: {message}", code="group_not_in_space",
                                   details=[{"field": "groups", "message": message, "type": "group_not_in_space"}])
    return ids


async def _set_groups(uow: UnitOfWork, assistant: Assistant, group_ids: list[uuid.UUID], kind: str = "collection"
                      ) -> None:
    """Replace the assistant's collections (`kind` collection) or websites' collections (`kind` website)."""
    await uow.session.execute(delete(AssistantGroup).where(
        AssistantGroup.assistant_id == assistant.id,
        AssistantGroup.group_id.in_(select(Group.id).where(Group.kind == kind))))
    uow.session.add_all([AssistantGroup(assistant_id=assistant.id, group_id=g, tenant_id=assistant.tenant_id)
                         for g in group_ids])


def _record_prompt(uow: UnitOfWork, p: Principal, assistant: Assistant, text: str, version: int) -> None:
    assistant.system_prompt, assistant.prompt_version = text, version
    uow.session.add(AssistantPrompt(assistant_id=assistant.id, version=version, tenant_id=assistant.tenant_id,
                                    text=text, created_by=p.user_id))


async def create_assistant(uow: UnitOfWork, p: Principal, space_id: uuid.UUID, data: AssistantCreate
                           ) -> AssistantOut:
    await authorize(uow, p, space_id, SpaceAction.edit_content)
    model = await _model(uow, data.completion_model_id)
    await _may_use(uow, p, model)
    await check_model_for_space(uow.session, p.tenant_id, space_id, model, field="completion_model_id")
    _check_kwargs(data.model_kwargs, model)
    group_ids = await _check_groups(uow, p, space_id, data.groups)
    website_groups = await websites_service.website_groups(uow.session, p, space_id, data.websites)
    assistant = Assistant(id=new_id(), tenant_id=p.tenant_id, space_id=space_id, name=data.name,
                          description=data.description, completion_model_id=model.id,
                          model_kwargs=data.model_kwargs.model_dump(exclude_none=True), published=data.published,
                          personal_data=data.personal_data, created_by=p.user_id)
    uow.session.add(assistant)
    await uow.session.flush()
    _record_prompt(uow, p, assistant, data.system_prompt, 1)
    await _set_groups(uow, assistant, group_ids)
    await _set_groups(uow, assistant, website_groups, "website")
    await uow.session.flush()
    out = await _out(uow.session, assistant)
    return out


async def get_assistant(uow: UnitOfWork, p: Principal, assistant_id: uuid.UUID) -> AssistantOut:
    return await _out(uow.session, await usable_assistant(uow, p, assistant_id))


async def update_assistant(uow: UnitOfWork, p: Principal, assistant_id: uuid.UUID, data: AssistantUpdate
                           ) -> AssistantOut:
    assistant = await _editable(uow, p, assistant_id)
    if data.completion_model_id is not None or data.model_kwargs is not None:
        if data.completion_model_id is not None:
            model = await _model(uow, data.completion_model_id)
            await _may_use(uow, p, model)
            await check_model_for_space(uow.session, p.tenant_id, assistant.space_id, model,
                                        field="completion_model_id")
        else:  # the current model, even if disabled since: the limit still applies
            model = await uow.session.get_one(CompletionModel, assistant.completion_model_id)
        kwargs = data.model_kwargs or ModelKwargs(**assistant.model_kwargs)
        _check_kwargs(kwargs, model)
        assistant.completion_model_id = model.id
        assistant.model_kwargs = kwargs.model_dump(exclude_none=True)
    for name in ("name", "description", "published", "personal_data"):
        if (value := getattr(data, name)) is not None:
            setattr(assistant, name, value)
    if data.system_prompt is not None and data.system_prompt != assistant.system_prompt:
        _record_prompt(uow, p, assistant, data.system_prompt, assistant.prompt_version + 1)
    if data.groups is not None:
        await _set_groups(uow, assistant, await _check_groups(uow, p, assistant.space_id, data.groups))
    if data.websites is not None:
        await _set_groups(uow, assistant, await websites_service.website_groups(
            uow.session, p, assistant.space_id, data.websites), "website")
    await uow.session.flush()
    out = await _out(uow.session, assistant)
    return out


async def delete_assistant(uow: UnitOfWork, p: Principal, assistant_id: uuid.UUID) -> None:
    await uow.session.delete(await _editable(uow, p, assistant_id))
    await uow.session.flush()


async def restore_prompt(uow: UnitOfWork, p: Principal, assistant_id: uuid.UUID, version: int) -> AssistantOut:
    """Make an earlier version current again, as a new version (history is never rewritten)."""
    assistant = await _editable(uow, p, assistant_id)
    prompt = await uow.session.get(AssistantPrompt, (assistant.id, version))
    if prompt is None:
        raise NotFound("Prompt version")
    if prompt.text != assistant.system_prompt:
        _record_prompt(uow, p, assistant, prompt.text, assistant.prompt_version + 1)
    await uow.session.flush()
    out = await _out(uow.session, assistant)
    return out


def _version_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not cursor.isdigit() or len(cursor) > 9:
        raise BadRequest("The cursor is not one this API returned", code="invalid_cursor")
    return int(cursor)


async def list_prompts(uow: UnitOfWork, p: Principal, assistant_id: uuid.UUID, *, limit: int, cursor: str | None
                       ) -> tuple[list[PromptVersionOut], str | None]:
    """Newest first; editors and admins only (it is an editing tool)."""
    assistant = await _editable(uow, p, assistant_id)
    query = (select(AssistantPrompt)
             .where(AssistantPrompt.assistant_id == assistant.id, AssistantPrompt.tenant_id == p.tenant_id)
             .order_by(AssistantPrompt.version.desc()).limit(limit + 1))
    if (before := _version_cursor(cursor)) is not None:
        query = query.where(AssistantPrompt.version < before)
    rows = list((await uow.session.scalars(query)).all())
    next_cursor = str(rows[limit - 1].version) if len(rows) > limit else None
    return [PromptVersionOut.model_validate(r) for r in rows[:limit]], next_cursor


async def _page(session: AsyncSession, p: Principal, query: Select[Any], limit: int, cursor: str | None
                ) -> tuple[list[AssistantOut], str | None]:
    rows, next_cursor = await paginate(session, query, Assistant, limit=limit, cursor=cursor)
    groups = await groups_of(session, p.tenant_id, [a.id for a in rows])
    sites = await websites_of(session, p.tenant_id, [a.id for a in rows])
    return [assistant_out(a, groups[a.id], sites[a.id]) for a in rows], next_cursor


async def list_space_assistants(uow: UnitOfWork, p: Principal, space_id: uuid.UUID, *, limit: int,
                                cursor: str | None) -> tuple[list[AssistantOut], str | None]:
    role = await uow.session.scalar(select(SpaceAccess.role).where(
        SpaceAccess.space_id == space_id, SpaceAccess.user_id == p.user_id, SpaceAccess.tenant_id == p.tenant_id))
    if role is None:
        raise NotFound("Space")
    query = select(Assistant).where(Assistant.space_id == space_id, Assistant.tenant_id == p.tenant_id)
    if not allowed(role, SpaceAction.edit_content):
        query = query.where(Assistant.published)
    return await _page(uow.session, p, query, limit, cursor)


async def list_usable(uow: UnitOfWork, p: Principal, *, limit: int, cursor: str | None
                      ) -> tuple[list[AssistantOut], str | None]:
    """Across the caller's spaces: published assistants, and all of those in spaces they edit."""
    query = (select(Assistant)
             .join(SpaceAccess, (SpaceAccess.space_id == Assistant.space_id) & (SpaceAccess.user_id == p.user_id))
             .where(Assistant.tenant_id == p.tenant_id, Assistant.published | SpaceAccess.role.in_(EDITORS)))
    return await _page(uow.session, p, query, limit, cursor)
