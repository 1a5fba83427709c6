"""Erasure of a user by an admin of their tenant (GDPR art. 17): the user and everything that is theirs.

Gone: the user's row, their sessions, questions, answers and feedback, API keys,
login sessions (so no token or key of theirs works again), space memberships, their personal space with its
collections, documents, files in storage and vectors (eneo.users.service.delete_user, whose foreign keys
cascade, does the rows and the personal space's files); in Redis, the answers' streams, the user's status
events and login/password-check counters.

Kept, because they are the organisation's, not the user's: documents they uploaded to a shared space and
assistants or collections they created there. These are **de-attributed** (`uploaded_by`/`created_by` become
NULL, by the foreign keys' `SET NULL`): nothing left names the user. Their content is the organisation's
record; an admin who must remove a document deletes it as any other.

The audit entry of the erasure names the user by id only (the audit log pseudonymises, issue 15 part 2).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Select, func, select

from eneo.answers.stream import stream_key
from eneo.api_keys.models import ApiKey
from eneo.auth.principal import Principal
from eneo.auth.rate_limits import user_counter_key
from eneo.core.db import UnitOfWork
from eneo.core.redis import get_redis
from eneo.core.settings import Settings
from eneo.core.user_events import events_key
from eneo.knowledge.models import Group, InfoBlob
from eneo.privacy import audit
from eneo.sessions.models import Question, Session
from eneo.spaces.models import Space
from eneo.usage import service as usage
from eneo.users import throttle
from eneo.users.service import delete_user, get_user


@dataclass(frozen=True)
class Erased:
    """What the erasure removed, and the shared documents it de-attributed."""

    sessions: int
    questions: int
    api_keys: int
    documents_deleted: int  # in the personal space: rows, files and vectors
    documents_deattributed: int  # in shared spaces: kept, no longer naming the user


async def erase_user(uow: UnitOfWork, p: Principal, settings: Settings, user_id: uuid.UUID) -> Erased:
    """Erase `user_id` (tenant admins only: the route checks; another tenant's user is 404; oneself is 409
    `cannot_delete_self`, the last admin 409, as for deleting a user)."""
    user = await get_user(uow, p, user_id)
    s, tid = uow.session, p.tenant_id

    async def count(query: Select[int]) -> int:
        return int(await s.scalar(query) or 0)

    question_ids = list((await s.scalars(select(Question.id).where(
        Question.user_id == user.id, Question.tenant_id == tid))).all())
    personal = select(Space.id).where(Space.owner_id == user.id, Space.personal, Space.tenant_id == tid)
    personal_groups = select(Group.id).where(Group.space_id.in_(personal))
    erased = Erased(
        sessions=await count(select(func.count()).select_from(Session).where(
            Session.user_id == user.id, Session.tenant_id == tid)),
        questions=len(question_ids),
        api_keys=await count(select(func.count()).select_from(ApiKey).where(
            ApiKey.user_id == user.id, ApiKey.tenant_id == tid)),
        documents_deleted=await count(select(func.count()).select_from(InfoBlob).where(
            InfoBlob.tenant_id == tid, InfoBlob.group_id.in_(personal_groups))),
        documents_deattributed=await count(select(func.count()).select_from(InfoBlob).where(
            InfoBlob.tenant_id == tid, InfoBlob.uploaded_by == user.id,
            InfoBlob.group_id.not_in(personal_groups))),
    )
    email = user.email
    await delete_user(uow, p, user.id)  # commits, then removes the personal space's files
    await usage.forget_user(uow, user.id)
    await uow.commit()
    redis = get_redis()  # what Redis holds about the user: answer streams, status events, login counters
    for start in range(0, len(question_ids), 500):
        await redis.delete(*(stream_key(i) for i in question_ids[start:start + 500]))
    await redis.delete(events_key(user.id), f"pwchange:{user.id}", user_counter_key(user.id))
    await throttle.forget_account(redis, settings, email)
    await audit.pseudonymise_user(tenant_id=tid, user_id=user.id, email=email)
    await audit.record("user.erasure", tenant_id=tid, actor_id=p.user_id, target_id=user.id, details={
        "sessions": erased.sessions, "questions": erased.questions, "api_keys": erased.api_keys,
        "documents_deleted": erased.documents_deleted, "documents_deattributed": erased.documents_deattributed})
    return erased
