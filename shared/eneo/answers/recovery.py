"""Answers whose writer is gone: every stream must still end, and nothing that reached a client is lost.

Three ways an answer loses its writer, and what ends it:

* **The outcome was saved but its terminal entry was not written** (Redis failed just then). Whoever reads a
  question that is final in the database and finds its stream unfinished writes the terminal entry from the
  saved outcome (`end_stream`), once: `AnswerStream.end` appends only to a stream without one.
* **`complete` died mid-answer, or its invoke was lost** (a crash, a timeout, a stack stopped with the event
  queued). The question stays `queued`/`streaming`; once it is older than `answer_abandon_seconds` (above the
  function's timeout, so no writer can still be running) a reader fails it as `answer_lost`
  (`abandon_if_lost`), keeping the text the stream already carried as the partial answer.
* **The local stack stopped**: nothing runs after a stop, so at the next start `resume_answers` re-invokes the
  questions still `queued` (their events were dropped with the stack's in-memory invoke queue) and fails the
  `streaming` ones at once, with their partial text.

Only ids and codes are logged, never a question or an answer.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from eneo.answers.stream import AnswerStream
from eneo.core.db import UnitOfWork
from eneo.core.ids import utcnow
from eneo.core.redis import get_redis
from eneo.core.settings import Settings, get_settings
from eneo.sessions.models import Question, QuestionStatus

log = logging.getLogger("eneo.answers")

UNFINISHED = (QuestionStatus.queued, QuestionStatus.streaming)
FINAL = (QuestionStatus.completed, QuestionStatus.failed, QuestionStatus.cancelled)
LOST_CODE = "answer_lost"
LOST_MESSAGE = "The answer was lost before it finished (the service restarted or timed out); ask again"


def answer_stream(question_id: uuid.UUID, settings: Settings | None = None) -> AnswerStream:
    settings = settings or get_settings()
    return AnswerStream(get_redis(), question_id, settings.answer_stream_ttl_seconds)


def terminal_entry(question: Question) -> tuple[str, dict[str, Any]]:
    """The terminal entry a final question's stream ends with: what `complete` writes after saving it."""
    if question.status == QuestionStatus.completed:
        usage = ({"input_tokens": question.input_tokens, "output_tokens": question.output_tokens}
                 if question.input_tokens is not None and question.output_tokens is not None else None)
        return "done", {"usage": usage}
    return "error", {"code": question.error_code or "internal_error",
                     "message": question.error_message or "The answer failed", "partial": question.partial}


async def end_stream(question: Question, settings: Settings | None = None) -> str | None:
    """Give a final question's stream its terminal entry if it lacks one (an expired stream stays gone);
    the id written, or None when there was nothing to do."""
    if question.status not in FINAL:
        return None
    kind, data = terminal_entry(question)
    written = await answer_stream(question.id, settings).end("done" if kind == "done" else "error", data)
    if written is not None:
        log.warning("answer stream ended by a reader", extra={"question_id": str(question.id), "type": kind})
    return written


async def abandon_if_lost(question: Question, settings: Settings | None = None, *,
                          older_than_seconds: float | None = None) -> bool:
    """Fail a question still `queued`/`streaming` longer than `answer_abandon_seconds` (or `older_than_seconds`)
    as `answer_lost`, keeping the text its stream carried as a partial answer; then end its stream. Only one
    caller wins the conditional update. True if this call failed it."""
    settings = settings or get_settings()
    age = settings.answer_abandon_seconds if older_than_seconds is None else older_than_seconds
    cutoff = utcnow() - timedelta(seconds=age)
    if question.status not in UNFINISHED or question.updated_at > cutoff:
        return False
    stream = answer_stream(question.id, settings)
    text, references = await stream.written_text()
    values: dict[str, Any] = {"status": QuestionStatus.failed, "error_code": LOST_CODE, "error_message": LOST_MESSAGE,
                              "answer": text, "completed_at": utcnow(), "updated_at": utcnow()}
    if references:
        values["references"] = references
    async with UnitOfWork(question.tenant_id) as uow:
        won = (await uow.session.execute(
            update(Question).where(Question.id == question.id, Question.status.in_(UNFINISHED),
                                   Question.updated_at <= cutoff)
            .values(**values).returning(Question.id))).scalar_one_or_none()
    if won is None:
        return False
    log.warning("question abandoned", extra={"question_id": str(question.id), "partial": bool(text)})
    await stream.end("error", {"code": LOST_CODE, "message": LOST_MESSAGE, "partial": bool(text)}, create=True)
    return True


Invoke = Callable[[uuid.UUID, uuid.UUID], Awaitable[None] | None]


async def resume_answers(tenant_id: uuid.UUID, invoke: Invoke, settings: Settings | None = None) -> tuple[int, int]:
    """At the start of a stack nothing is answering yet: hand the tenant's `queued` questions to `invoke`
    (their invokes were dropped at the stop) and fail its `streaming` ones (their writer died with the stop)
    at once. Returns (re-invoked, failed as lost). One question's failure is logged and the rest still run."""
    settings = settings or get_settings()
    async with UnitOfWork(tenant_id) as uow:
        rows = list((await uow.session.scalars(
            select(Question).where(Question.tenant_id == tenant_id, Question.status.in_(UNFINISHED))
            .order_by(Question.created_at))).all())
    invoked = lost = 0
    for question in rows:
        try:
            if question.status == QuestionStatus.queued:
                result = invoke(tenant_id, question.id)
                if inspect.isawaitable(result):
                    await result
                invoked += 1
            elif await abandon_if_lost(question, settings, older_than_seconds=0):
                lost += 1
        except Exception as exc:
            log.error("unfinished answer not resumed", extra={"question_id": str(question.id),
                                                              "error": type(exc).__name__})
    return invoked, lost
