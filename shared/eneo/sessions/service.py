"""Use cases of sessions: ask (new session or follow-up), list, read, delete, feedback.

A session and its questions belong to the user who asked; anyone else, admins included, gets 404.
The caller must still be allowed to use the assistant (published, or editor+ in its space).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select, update

from eneo.answers import cancel
from eneo.answers.knowledge import assistant_group_ids
from eneo.answers.recovery import FINAL, abandon_if_lost, answer_stream
from eneo.answers.service import chat_request
from eneo.answers.stream import stream_key
from eneo.assistants.models import AssistantGroup
from eneo.assistants.service import as_drafted, draft_assistant, usable_assistant
from eneo.auth.principal import Principal
from eneo.classifications.knowledge import check_group_embedding
from eneo.classifications.service import check_model_for_space
from eneo.core.db import UnitOfWork
from eneo.core.errors import AppError, Conflict, NotFound
from eneo.core.ids import utcnow
from eneo.core.pagination import paginate
from eneo.core.redis import get_redis
from eneo.core.settings import Settings
from eneo.knowledge.models import Group
from eneo.model_providers.clients import chat_target
from eneo.model_providers.models import CompletionModel, EmbeddingModel
from eneo.model_providers.service import default_model
from eneo.permissions.model_access import require_model_access
from eneo.sessions.models import Question, QuestionStatus, Session
from eneo.sessions.schemas import (
    Ask,
    ErrorInfo,
    Feedback,
    FeedbackOut,
    QuestionOut,
    ReferenceOut,
    SessionDetail,
    SessionOut,
    UsageOut,
)
from eneo.usage.service import check_token_quota

SESSION_NAME_CHARS = 100


class QuestionTooLarge(AppError):
    status, code = 413, "question_too_large"


def question_out(q: Question) -> QuestionOut:
    return QuestionOut(
        id=q.id, session_id=q.session_id, question=q.question, answer=q.answer, status=q.status,
        partial=q.partial, model=q.model_name, created_at=q.created_at, completed_at=q.completed_at,
        error=ErrorInfo(code=q.error_code, message=q.error_message or "") if q.error_code else None,
        usage=(UsageOut(input_tokens=q.input_tokens, output_tokens=q.output_tokens)
               if q.input_tokens is not None and q.output_tokens is not None else None),
        feedback=FeedbackOut(value=q.feedback, text=q.feedback_text) if q.feedback in (1, -1) else None,
        references=[ReferenceOut.model_validate(r) for r in q.references or []], draft=q.draft is not None,
    )


def session_out(s: Session) -> SessionOut:
    return SessionOut(id=s.id, assistant_id=s.assistant_id, name=s.name, created_at=s.created_at,
                      updated_at=s.updated_at)


def _session_name(question: str) -> str:
    line = " ".join(question.split())
    return line if len(line) <= SESSION_NAME_CHARS else line[: SESSION_NAME_CHARS - 1] + "…"


async def _own_session(uow: UnitOfWork, p: Principal, assistant_id: uuid.UUID, session_id: uuid.UUID) -> Session:
    """The caller's session with this assistant; an assistant-scoped API key reaches its assistant's only."""
    session = await uow.session.get(Session, session_id)
    if session is None or session.user_id != p.user_id or session.assistant_id != assistant_id or (
            p.assistant_id is not None and p.assistant_id != assistant_id):
        raise NotFound("Session")
    return session


async def knowledge_embedding_limits(uow: UnitOfWork, assistant_id: uuid.UUID
                                     ) -> list[tuple[str, list[uuid.UUID]]]:
    """The limited embedding models of an assistant's collections and websites (each embeds the question)."""
    rows = await uow.session.execute(
        select(EmbeddingModel.name, EmbeddingModel.allowed_group_ids).distinct()
        .join(Group, Group.embedding_model_id == EmbeddingModel.id)
        .join(AssistantGroup, AssistantGroup.group_id == Group.id)
        .where(AssistantGroup.assistant_id == assistant_id, AssistantGroup.tenant_id == uow.tenant_id,
               EmbeddingModel.allowed_group_ids.is_not(None)))
    return [(name, list(groups)) for name, groups in rows.all() if groups]



async def ask(uow: UnitOfWork, p: Principal, settings: Settings, assistant_id: uuid.UUID,
              session_id: uuid.UUID | None, body: Ask) -> tuple[Session, Question]:
    """Save the question (queued) in a new or existing session; the answer comes later."""
    if len(body.question) > settings.question_max_chars:
        raise QuestionTooLarge(f"The question is longer than the limit of {settings.question_max_chars} characters")
    draft: dict[str, Any] | None = None
    if body.draft is not None:
        saved, model_id, draft = await draft_assistant(uow, p, assistant_id, body.draft)
        assistant = as_drafted(saved, draft)
    else:
        assistant = await usable_assistant(uow, p, assistant_id)
        model_id = assistant.completion_model_id
    if model_id is None:
        fallback = await default_model(uow)
        model_id = fallback.id if fallback else None
    if model_id is None:
        raise Conflict("This assistant has no model and the organisation has no default model; "
                       "an administrator must add one", code="no_model")
    target = await chat_target(uow, model_id)
    if not target.enabled:
        raise Conflict("The assistant's model is disabled; ask an administrator or choose another model",
                       code="model_disabled")
    # A level changed since the assistant was saved stops it here, before the space's data reaches the model.
    model = await uow.session.get_one(CompletionModel, model_id)
    await check_model_for_space(uow.session, p.tenant_id, assistant.space_id, model)
    # Models limited to user groups (its completion model, its collections' embedding models): 403 before
    # the question is saved, so nothing of it reaches a provider.
    await require_model_access(uow, p.user_id, "completion", model.display_name, model.allowed_group_ids)
    for name, groups in await knowledge_embedding_limits(uow, assistant.id):
        await require_model_access(uow, p.user_id, "embedding", name, groups)
    # So does a collection whose embedding model is now below its space: the question would be embedded by it.
    await check_group_embedding(uow.session, p.tenant_id, await assistant_group_ids(uow, assistant.id))
    # The question alone must fit the model (history is trimmed later): 422 now, not a failed answer.
    chat_request(target, assistant, [], body.question, settings)
    # A quota reached refuses the question before it is saved or any provider is asked (429, Retry-After).
    await check_token_quota(uow, p.tenant_id, p.user_id)

    if session_id is None:
        session = Session(tenant_id=p.tenant_id, assistant_id=assistant_id, user_id=p.user_id,
                          name=_session_name(body.question))
        uow.session.add(session)
    else:
        session = await _own_session(uow, p, assistant_id, session_id)
        session.updated_at = utcnow()
    await uow.session.flush()
    question = Question(tenant_id=p.tenant_id, session_id=session.id, user_id=p.user_id, assistant_id=assistant_id,
                        completion_model_id=model_id, model_name=target.model, question=body.question,
                        status=QuestionStatus.queued, draft=draft)
    uow.session.add(question)
    await uow.session.flush()
    return session, question


async def fail_to_start(uow: UnitOfWork, question_id: uuid.UUID, error: AppError) -> None:
    """The answer could not be handed over: say so on the question rather than leave it queued."""
    question = await uow.session.get_one(Question, question_id)
    question.status = QuestionStatus.failed
    question.error_code, question.error_message = error.code, error.message[:500]
    question.completed_at = utcnow()


async def get_question(uow: UnitOfWork, p: Principal, question_id: uuid.UUID) -> Question:
    """The caller's own question; others' (same tenant or not) are 404.

    An API key restricted to one assistant reaches only that assistant's questions.
    """
    question = await uow.session.get(Question, question_id)
    if question is None or question.user_id != p.user_id or (
            p.assistant_id is not None and question.assistant_id != p.assistant_id):
        raise NotFound("Question")
    if await abandon_if_lost(question):
        await uow.session.refresh(question)
    return question


async def cancel_question(uow: UnitOfWork, p: Principal, question_id: uuid.UUID) -> Question:
    """Stop the caller's answer. A question still `queued` is cancelled here (whatever `complete` claims later
    finds nothing to claim); one that streams is asked to stop (eneo.answers.cancel) and is returned as it is
    now: its writer saves it `cancelled` and ends its stream. Cancelling a cancelled question again changes
    nothing; one that completed or failed is 409 `question_finished`."""
    question = await get_question(uow, p, question_id)
    if question.status == QuestionStatus.cancelled:
        return question
    if question.status in FINAL:
        raise Conflict(f"This answer has already ended ({question.status.value}); there is nothing to stop",
                       code="question_finished")
    await cancel.request(get_redis(), question.id)  # first: a claim after this finds the request
    now = utcnow()
    stopped = (await uow.session.execute(
        update(Question).where(Question.id == question.id, Question.status == QuestionStatus.queued)
        .values(status=QuestionStatus.cancelled, error_code=cancel.CODE, error_message=cancel.MESSAGE,
                completed_at=now, updated_at=now).returning(Question.id))).scalar_one_or_none()
    if stopped is not None:
        await uow.commit()  # saved before the stream says so, as `complete` does
        await answer_stream(question.id).end("error", {"code": cancel.CODE, "message": cancel.MESSAGE,
                                                       "partial": False}, create=True)
    await uow.session.refresh(question)
    return question


async def list_sessions(uow: UnitOfWork, p: Principal, assistant_id: uuid.UUID, *, limit: int,
                        cursor: str | None) -> tuple[list[SessionOut], str | None]:
    await usable_assistant(uow, p, assistant_id)
    query = select(Session).where(Session.assistant_id == assistant_id, Session.user_id == p.user_id)
    rows, next_cursor = await paginate(uow.session, query, Session, limit=limit, cursor=cursor)
    return [session_out(s) for s in rows], next_cursor


async def get_session(uow: UnitOfWork, p: Principal, assistant_id: uuid.UUID, session_id: uuid.UUID) -> SessionDetail:
    await usable_assistant(uow, p, assistant_id)
    session = await _own_session(uow, p, assistant_id, session_id)
    questions = (await uow.session.scalars(
        select(Question).where(Question.session_id == session.id).order_by(Question.created_at, Question.id))).all()
    for question in questions:
        if await abandon_if_lost(question):
            await uow.session.refresh(question)
    return SessionDetail(**session_out(session).model_dump(), questions=[question_out(q) for q in questions])


async def delete_session(uow: UnitOfWork, p: Principal, assistant_id: uuid.UUID, session_id: uuid.UUID) -> None:
    """Delete the session, its questions and their answer streams (which would expire anyway)."""
    session = await _own_session(uow, p, assistant_id, session_id)
    ids = (await uow.session.scalars(select(Question.id).where(Question.session_id == session.id))).all()
    await uow.session.execute(delete(Session).where(Session.id == session.id))
    if ids:
        await uow.commit()  # before the streams go: only a deletion that holds removes them
        await get_redis().delete(*(stream_key(i) for i in ids))


async def give_feedback(uow: UnitOfWork, p: Principal, assistant_id: uuid.UUID, session_id: uuid.UUID,
                        body: Feedback) -> QuestionOut:
    session = await _own_session(uow, p, assistant_id, session_id)
    question = await uow.session.get(Question, body.question_id)
    if question is None or question.session_id != session.id:
        raise NotFound("Question")
    question.feedback = body.value
    question.feedback_text = body.text if body.value is not None else None
    await uow.session.flush()
    return question_out(question)
