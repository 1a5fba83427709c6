"""Sessions, questions and the answer stream over HTTP."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Response, status
from sqlalchemy.exc import InvalidRequestError

from eneo.answers.invoke import CompleteInvoker, lambda_invoker
from eneo.answers.recovery import FINAL, end_stream
from eneo.answers.service import answer_question
from eneo.answers.stream import AnswerStream
from eneo.auth.deps import AssistantUser, Context
from eneo.core.errors import AppError, BadRequest, Conflict, NotFound
from eneo.core.health import redis_check
from eneo.core.pagination import Page, PageQuery
from eneo.core.redis import get_redis
from eneo.core.streams import START, valid_entry_id
from eneo.sessions import idempotency, service, sse
from eneo.sessions.models import Question, QuestionStatus
from eneo.sessions.schemas import (
    Ask,
    Asked,
    Feedback,
    QuestionOut,
    SessionDetail,
    SessionOut,
    StreamInfo,
    SubscribeMessage,
)

sessions = APIRouter(prefix="/api/v1/assistants/{assistant_id}/sessions", tags=["sessions"])
questions = APIRouter(prefix="/api/v1/questions", tags=["sessions"])

INLINE_ANSWER_SECONDS = 25.0  # under API Gateway's 30 s integration timeout, with room to save
CANCEL_WAIT_SECONDS = 5.0  # how long a cancel waits for the writer to stop before answering 202


class AnswerFailed(AppError):
    """A `stream: false` answer that failed; the question is saved with the same code."""

    status = 502


def get_invoker() -> CompleteInvoker:
    """How a streamed question reaches `complete`; tests swap it through dependency_overrides."""
    return lambda_invoker


Invoker = Annotated[CompleteInvoker, Depends(get_invoker)]
IdempotencyKeyHeader = Annotated[str | None, Header(
    description="Any unique string (a UUID): sending the ask again with the same key and body returns the "
                "question the first one made instead of asking again (kept 24 h)")]
ASKED_BEFORE_POLL_SECONDS = 0.25


async def _ask(ctx: Context, invoker: CompleteInvoker, assistant_id: uuid.UUID, session_id: uuid.UUID | None,
               body: Ask, idempotency_key: str | None) -> Asked:
    p = ctx.principal
    key = idempotency.ask_key(idempotency_key, assistant_id, session_id, body)
    if key is not None and (earlier := await idempotency.earlier_question(ctx.uow, p, key)) is not None:
        return await _asked_before(ctx, earlier, body)
    # Every answer, streamed or not, goes through Redis: without it the question is not accepted (503), rather
    # than saved and then lost.
    await redis_check()
    _, question = await service.ask(ctx.uow, p, ctx.settings, assistant_id, session_id, body)
    if key is not None and not await idempotency.remember(ctx.uow, p, key, question.id):
        await ctx.uow.rollback()  # a concurrent ask with this key saved its question first: answer with that one
        earlier = await idempotency.earlier_question(ctx.uow, p, key)
        assert earlier is not None, "the key's insert yields only to a committed key"
        return await _asked_before(ctx, earlier, body)
    await ctx.uow.commit()  # `complete` reads the question in its own transaction
    if body.stream:
        try:
            invoker(p.tenant_id, question.id)
        except AppError as exc:
            await service.fail_to_start(ctx.uow, question.id, exc)
            if key is not None:
                await idempotency.forget(ctx.uow, p, key)
            await ctx.uow.commit()
            raise
        return _streaming(question)
    await answer_question(p.tenant_id, question.id, deadline=time.monotonic() + INLINE_ANSWER_SECONDS,
                          settings=ctx.settings)
    try:
        await ctx.uow.session.refresh(question)
    except InvalidRequestError:  # the session or assistant was deleted while it answered
        raise NotFound("Session") from None
    return _answered(question)


def _streaming(question: Question) -> Asked:
    info = StreamInfo(sse=f"/api/v1/questions/{question.id}/stream",
                      websocket=SubscribeMessage(question_id=question.id))
    return Asked(session_id=question.session_id, question=service.question_out(question), stream=info)


def _answered(question: Question) -> Asked:
    if question.status == QuestionStatus.failed:
        raise AnswerFailed(f"The answer failed ({question.error_message}); the question was saved as failed "
                           f"with id {question.id}", code=question.error_code or "answer_failed")
    return Asked(session_id=question.session_id, question=service.question_out(question))


async def _asked_before(ctx: Context, question_id: uuid.UUID, body: Ask) -> Asked:
    """The response to an ask sent again with its Idempotency-Key: the question the first one made, as it is
    now (no second question, no second answer). Without `stream`, as the first response would be: once the
    answer is in, waiting for it if the first ask is still answering."""
    question = await service.get_question(ctx.uow, ctx.principal, question_id)
    if body.stream:
        return _streaming(question)
    deadline = time.monotonic() + INLINE_ANSWER_SECONDS
    while question.status in (QuestionStatus.queued, QuestionStatus.streaming) and time.monotonic() < deadline:
        await ctx.uow.commit()  # no transaction held while the first ask answers
        await asyncio.sleep(ASKED_BEFORE_POLL_SECONDS)
        await ctx.uow.session.refresh(question)
    if question.status in (QuestionStatus.queued, QuestionStatus.streaming):
        raise Conflict(f"The first ask with this Idempotency-Key is still being answered; read the question at "
                       f"/api/v1/questions/{question.id}/", code="ask_in_progress")
    return _answered(question)


@sessions.post("/", status_code=status.HTTP_201_CREATED, responses={202: {"model": Asked}})
async def start_session(ctx: AssistantUser, invoker: Invoker, assistant_id: uuid.UUID, body: Ask,
                        response: Response, idempotency_key: IdempotencyKeyHeader = None) -> Asked:
    """Start a session with its first question. `stream: true` answers 202 and streams the answer."""
    if body.stream:
        response.status_code = status.HTTP_202_ACCEPTED
    return await _ask(ctx, invoker, assistant_id, None, body, idempotency_key)


@sessions.get("/")
async def list_sessions(ctx: AssistantUser, assistant_id: uuid.UUID,
                        page: Annotated[PageQuery, Depends()]) -> Page[SessionOut]:
    """The caller's own sessions with this assistant, oldest first."""
    items, cursor = await service.list_sessions(ctx.uow, ctx.principal, assistant_id, limit=page.limit,
                                                cursor=page.cursor)
    return Page(items=items, next_cursor=cursor)


@sessions.post("/{session_id}/", responses={202: {"model": Asked}})
async def ask_follow_up(ctx: AssistantUser, invoker: Invoker, assistant_id: uuid.UUID, session_id: uuid.UUID,
                        body: Ask, response: Response, idempotency_key: IdempotencyKeyHeader = None) -> Asked:
    """Ask a follow-up; the model sees the session's earlier questions and answers (as many as fit)."""
    if body.stream:
        response.status_code = status.HTTP_202_ACCEPTED
    return await _ask(ctx, invoker, assistant_id, session_id, body, idempotency_key)


@sessions.get("/{session_id}/")
async def get_session(ctx: AssistantUser, assistant_id: uuid.UUID, session_id: uuid.UUID) -> SessionDetail:
    return await service.get_session(ctx.uow, ctx.principal, assistant_id, session_id)


@sessions.delete("/{session_id}/", status_code=status.HTTP_204_NO_CONTENT)
async def delete_session(ctx: AssistantUser, assistant_id: uuid.UUID, session_id: uuid.UUID) -> Response:
    await service.delete_session(ctx.uow, ctx.principal, assistant_id, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@sessions.post("/{session_id}/feedback/")
async def give_feedback(ctx: AssistantUser, assistant_id: uuid.UUID, session_id: uuid.UUID,
                        body: Feedback) -> QuestionOut:
    """Rate an answer (+1 / -1, with an optional comment); `value: null` withdraws the rating."""
    return await service.give_feedback(ctx.uow, ctx.principal, assistant_id, session_id, body)


@questions.get("/{question_id}/")
async def get_question(ctx: AssistantUser, question_id: uuid.UUID) -> QuestionOut:
    """The question and its answer as saved: poll this if you cannot read a stream."""
    return service.question_out(await service.get_question(ctx.uow, ctx.principal, question_id))


@questions.get("/{question_id}/stream", response_class=Response,
               responses={200: {"content": {"text/event-stream": {}}}, 204: {"description": "Nothing more"}})
async def stream_answer(ctx: AssistantUser, question_id: uuid.UUID,
                        last_event_id: Annotated[str | None, Header()] = None,
                        after: Annotated[str | None, Query(description="Same as Last-Event-ID")] = None) -> Response:
    """The answer as Server-Sent Events (`first_chunk`, `text`, then `done` or `error`).

    Each response carries what arrived since `Last-Event-ID` and ends; an EventSource reconnects on
    its own and gets the rest. 204 means the client has everything.
    """
    question = await service.get_question(ctx.uow, ctx.principal, question_id)
    finished = question.status in FINAL
    await ctx.uow.commit()  # no connection held while waiting on Redis
    resume = last_event_id or after
    if resume is not None and not valid_entry_id(resume):
        raise BadRequest("Last-Event-ID must be an id this stream sent (like 1700000000000-0)",
                         code="invalid_event_id")
    stream = AnswerStream(get_redis(), question_id, ctx.settings.answer_stream_ttl_seconds)
    if finished:  # saved, but its writer may have died before the stream's terminal entry
        await end_stream(question, ctx.settings)
    body = await sse.poll(stream, resume, wait_seconds=ctx.settings.sse_wait_seconds,
                          linger_ms=ctx.settings.sse_linger_ms, finished=finished)
    if body is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return Response(body, media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})


@questions.post("/{question_id}/cancel/", responses={
    202: {"model": QuestionOut, "description": "Asked to stop; the answer's stream ends with `answer_cancelled`"},
    409: {"description": "`question_finished`: the answer completed or failed before"}})
async def cancel_answer(ctx: AssistantUser, question_id: uuid.UUID, response: Response) -> QuestionOut:
    """Stop generating: the text streamed so far becomes the answer (`status: cancelled`, `partial` when there is
    text) and the stream ends with an `error` entry `answer_cancelled`, so followers stop at once.

    200 with the stopped question (again 200 for a question already cancelled); 202 with the question as it is
    when its writer has not stopped within a few seconds (the stream's end follows). An answer that ended
    just before the cancel reached it keeps its status (`completed`)."""
    question = await service.cancel_question(ctx.uow, ctx.principal, question_id)
    if question.status not in FINAL:
        await ctx.uow.commit()  # no connection held while the writer stops
        stream = AnswerStream(get_redis(), question_id, ctx.settings.answer_stream_ttl_seconds)
        deadline, last = time.monotonic() + CANCEL_WAIT_SECONDS, START
        while (left := deadline - time.monotonic()) > 0:
            entries = await stream.read(last, block_ms=max(int(left * 1000), 1))
            if entries:
                last = entries[-1].id
            if any(entry.terminal for entry in entries):
                break
        await ctx.uow.session.refresh(question)
    if question.status not in FINAL:
        response.status_code = status.HTTP_202_ACCEPTED
    return service.question_out(question)
