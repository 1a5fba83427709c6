"""Answer one question: claim it, stream the provider's answer into Redis, save the result.

The same use case runs in `complete` (streamed answers, invoked asynchronously) and inside the
sessions function (`stream: false`). It is safe to run twice for one question: only the run that
moves the question from `queued` to `streaming` answers it, so a redelivered invoke does nothing.

No database connection is held while the provider streams: the question is claimed and its context
read in one short transaction, the sources of an assistant with knowledge found in another
(eneo.answers.knowledge), and the outcome written in a third. The sources go to the client in the
`first_chunk` entry as `references` and are saved with the answer.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from contextlib import aclosing
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select, update

from eneo.answers import cancel
from eneo.answers.batching import text_batcher
from eneo.answers.context import Prompt, Source, Turn, build_prompt
from eneo.answers.knowledge import RetrievalFailed, assistant_group_ids, find_sources
from eneo.answers.protection import NONE, Protection, embeddings_masked, protection_for
from eneo.answers.stream import AnswerStream
from eneo.assistants.models import Assistant
from eneo.assistants.service import as_drafted
from eneo.core.db import UnitOfWork
from eneo.core.errors import AppError, NotFound
from eneo.core.health import unavailable
from eneo.core.ids import utcnow
from eneo.core.redis import get_redis
from eneo.core.settings import Settings, get_settings
from eneo.core.text import storable_text
from eneo.llm import ChatRequest, ProviderConfig, ProviderError, RetryPolicy, TextDelta, Usage, stream_chat
from eneo.llm.tokens import estimate_usage
from eneo.model_providers.clients import ChatTarget, chat_target
from eneo.personal_data.masking import Masking, contains, mask_request
from eneo.sessions.models import Question, QuestionStatus
from eneo.usage.service import add_tokens

log = logging.getLogger("eneo.answers")

DEADLINE_MARGIN = 5.0  # seconds kept to write the outcome before the function's own timeout
# The failure of an answer cut short by an outage, by eneo.core.health's code.
DEPENDENCY_MESSAGES = {
    "redis_unavailable": "The answer's stream (Redis) became unavailable before the answer finished; "
                         "the part that arrived is kept; ask again",
    "database_unavailable": "The database became unavailable before the answer was saved; ask again",
}


@dataclass(frozen=True)
class Work:
    """What one answer needs, read in the claiming transaction."""

    question_id: uuid.UUID
    session_id: uuid.UUID
    user_id: uuid.UUID
    target: ChatTarget
    assistant: Assistant
    history: list[Turn]
    question: str
    group_ids: list[uuid.UUID]  # the assistant's knowledge; none: it answers without sources
    protection: Protection = NONE  # personal data before an external provider (eneo.answers.protection)
    mask_embeddings: bool = False  # the question reaches an external embedding model masked

    @property
    def config(self) -> ProviderConfig:
        return self.target.config

    @property
    def model_name(self) -> str:
        return self.target.model


@dataclass(frozen=True)
class Prepared:
    """The request as it goes out, the model it goes to, and the placeholders to restore in its answer."""

    prompt: Prompt
    target: ChatTarget
    masking: Masking
    routed: bool = False  # sent to the tenant's local model instead of the assistant's (personal data)


@dataclass(frozen=True)
class Failure:
    code: str
    message: str


CANCELLED = Failure(cancel.CODE, cancel.MESSAGE)  # the asker stopped it: saved as `cancelled`, not `failed`


def chat_prompt(target: ChatTarget, assistant: Assistant, history: list[Turn], question: str, settings: Settings,
                sources: list[Source] | None = None) -> Prompt:
    """The request for `question` to this assistant's model, grounded in `sources` unless None (an
    assistant without knowledge); QuestionTooLong if it cannot fit at all."""
    return build_prompt(model=target.model, system=assistant.system_prompt, history=history, question=question,
                        context_window=target.context_window, model_kwargs=dict(assistant.model_kwargs or {}),
                        reserve_default=target.max_output_tokens or settings.answer_reserve_tokens, sources=sources)


def chat_request(target: ChatTarget, assistant: Assistant, history: list[Turn], question: str,
                 settings: Settings) -> ChatRequest:
    """The request for `question` without sources; QuestionTooLong if it cannot fit at all."""
    return chat_prompt(target, assistant, history, question, settings).request


async def _claim(tenant_id: uuid.UUID, question_id: uuid.UUID, settings: Settings) -> Work | Failure | None:
    """Move the question to `streaming` and read its context; None if another run has it."""
    async with UnitOfWork(tenant_id) as uow:
        claimed = (await uow.session.execute(
            update(Question).where(Question.id == question_id, Question.status == QuestionStatus.queued)
            .values(status=QuestionStatus.streaming, updated_at=utcnow()).returning(Question.id)
        )).scalar_one_or_none()
        if claimed is None:
            return None
        question = await uow.session.get_one(Question, question_id)
        assistant = await uow.session.get(Assistant, question.assistant_id)
        if assistant is None or question.completion_model_id is None:
            return Failure("model_unavailable", "The assistant or its model was removed before the answer started")
        if question.draft is not None:  # an editor trying unsaved settings: applied to a copy, nothing saved
            assistant = as_drafted(assistant, question.draft)
        try:
            target = await chat_target(uow, question.completion_model_id)
        except NotFound:
            return Failure("model_unavailable", "The assistant's model was removed before the answer started")
        except AppError as exc:  # e.g. provider_key_unreadable
            return Failure(exc.code, exc.message)
        if not target.enabled:
            return Failure("model_unavailable", "The assistant's model was disabled by an administrator")
        earlier = (await uow.session.scalars(
            select(Question).where(Question.session_id == question.session_id,
                                   # a stopped answer is what the asker read: later questions may refer to it
                                   Question.status.in_((QuestionStatus.completed, QuestionStatus.cancelled)),
                                   Question.created_at < question.created_at)
            .order_by(Question.created_at, Question.id))).all()
        # An empty answer (a refusal, a filter) is no turn: Anthropic refuses empty messages.
        history = [Turn(q.question, q.answer) for q in earlier if q.answer.strip()]
        try:
            chat_request(target, assistant, [], question.question, settings)  # fails now, before any search
        except AppError as exc:
            return Failure(exc.code, exc.message)
        if question.draft is not None and "groups" in question.draft:
            groups = [uuid.UUID(g) for g in question.draft["groups"]]
        else:
            groups = await assistant_group_ids(uow, assistant.id)
        protection = await protection_for(uow, target, assistant)
        mask_embeddings = bool(groups) and await embeddings_masked(uow, assistant)
        return Work(question.id, question.session_id, question.user_id, target, assistant, history,
                    question.question, groups, protection, mask_embeddings)


async def _prompt(tenant_id: uuid.UUID, work: Work, settings: Settings, within: float | None
                  ) -> Prepared | Failure:
    """The request, with the sources of an assistant with knowledge (found without the claim's connection),
    masked or routed to a local model as the assistant's protection says."""
    sources: list[Source] | None = None
    if work.group_ids:
        try:
            sources = await find_sources(tenant_id, work.user_id, work.group_ids, work.question,
                                         [t.question for t in work.history], within=within,
                                         mask=work.mask_embeddings)
        except RetrievalFailed as exc:
            return Failure(exc.code, exc.message)
    target, protection, masking = work.target, work.protection, Masking()
    routed = protection.local is not None and contains(
        [work.question, *(x for t in work.history for x in (t.question, t.answer)),
         *(x for s in sources or [] for x in (s.title, s.text))])
    if routed and protection.local is not None:
        target = protection.local
    try:
        prompt = chat_prompt(target, work.assistant, work.history, work.question, settings, sources)
    except AppError as exc:
        return Failure(exc.code, exc.message)
    if protection.mask and not routed:
        prompt = Prompt(mask_request(prompt.request, masking), prompt.sources)
        if masking:
            log.info("personal data masked", extra={"question_id": str(work.question_id), **masking.counts()})
    return Prepared(prompt, target, masking, routed)


async def _finish(tenant_id: uuid.UUID, question_id: uuid.UUID, *, answer: str, usage: Usage | None,
                  failure: Failure | None, references: list[dict[str, object]] | None = None,
                  routed_to: ChatTarget | None = None) -> bool:
    """Save the outcome of the run that claimed the question; False if it is no longer ours (a reader
    already failed it as lost), in which case the stream already has its terminal entry."""
    values: dict[str, object] = {
        "answer": answer, "completed_at": utcnow(), "updated_at": utcnow(),
        "status": (QuestionStatus.cancelled if failure == CANCELLED else QuestionStatus.failed) if failure
        else QuestionStatus.completed,
        "error_code": failure.code if failure else None,
        "error_message": failure.message[:500] if failure else None,
    }
    if usage is not None:
        values |= {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
    if references:
        values["references"] = references
    if routed_to is not None:  # the model that answered, not the assistant's
        values |= {"completion_model_id": routed_to.model_id, "model_name": routed_to.model}
    async with UnitOfWork(tenant_id) as uow:
        saved = (await uow.session.execute(
            update(Question).where(Question.id == question_id, Question.status == QuestionStatus.streaming)
            .values(**values).returning(Question.user_id, Question.assistant_id, Question.completion_model_id)
        )).first()
        if saved is not None and usage is not None and saved.completion_model_id is not None:
            # Counted with the answer, in its transaction: the month's usage is what quotas read.
            await add_tokens(uow, tenant_id=tenant_id, user_id=saved.user_id, assistant_id=saved.assistant_id,
                             model_id=saved.completion_model_id, input_tokens=usage.input_tokens,
                             output_tokens=usage.output_tokens)
    return saved is not None


def _failed(exc: Exception, question_id: uuid.UUID, what: str, message: str) -> Failure:
    """The failure `exc` ends the answer with: Postgres or Redis unreachable keeps its code (`database_unavailable`,
    `redis_unavailable`) and is one warning, since there is no bug to chase; anything else is `internal_error` with
    its traceback."""
    if (down := unavailable(exc)) is not None:
        log.warning(f"{what}: dependency unavailable", extra={"question_id": str(question_id), "code": down.code,
                                                             "error": type(exc).__name__})
        return Failure(down.code, DEPENDENCY_MESSAGES[down.code])
    log.exception(what, extra={"question_id": str(question_id)})
    return Failure("internal_error", message)


async def _end(stream: AnswerStream, type_: Literal["done", "error"], data: dict[str, object]) -> None:
    """Write the terminal entry of a saved outcome; with Redis down, leave it to the readers: whoever reads a
    final question whose stream has no end writes it (eneo.answers.recovery.end_stream)."""
    try:
        await stream.end(type_, data, create=True)
    except Exception as exc:
        if (down := unavailable(exc)) is None:
            raise
        log.warning("answer saved; its stream's end is left to its readers", extra={
            "question_id": str(stream.question_id), "code": down.code, "type": type_})


async def _release(tenant_id: uuid.UUID, question_id: uuid.UUID) -> None:
    """Hand a claim back (`streaming` -> `queued`) when nothing reached the stream yet, so that the retry of this
    invocation answers the question from the start. With Postgres down too it stays `streaming`, and a reader
    fails it as `answer_lost` after the abandonment time (eneo.answers.recovery)."""
    try:
        async with UnitOfWork(tenant_id) as uow:
            await uow.session.execute(
                update(Question).where(Question.id == question_id, Question.status == QuestionStatus.streaming)
                .values(status=QuestionStatus.queued, updated_at=utcnow()))
    except Exception as exc:
        if unavailable(exc) is None:
            raise
        log.warning("claim not handed back; the question ends as lost", extra={"question_id": str(question_id)})


async def _fail_before_start(tenant_id: uuid.UUID, question_id: uuid.UUID, stream: AnswerStream,
                             failure: Failure) -> bool:
    log.info("question failed before the answer started", extra={"question_id": str(question_id),
                                                                 "error_code": failure.code})
    if await _finish(tenant_id, question_id, answer="", usage=None, failure=failure):
        await _end(stream, "error", {"code": failure.code, "message": failure.message, "partial": False})
    return True


async def answer_question(tenant_id: uuid.UUID, question_id: uuid.UUID, *, deadline: float | None = None,
                          settings: Settings | None = None) -> bool:
    """Answer the question into its stream and save it; False if it was not ours to answer.

    `deadline` is a `time.monotonic()` value: the answer is cut off (and labelled) before it.
    Provider failures end the stream with an `error` entry and a failed question; they are not raised.
    Postgres or Redis unreachable before anything reached the stream is raised (eneo.core.health.unavailable
    tells it), with the question left `queued` for a retry; once the answer streams, it fails the answer with
    its code (`redis_unavailable`, `database_unavailable`), keeping the part that arrived.
    """
    settings = settings or get_settings()
    claim = await _claim(tenant_id, question_id, settings)
    if claim is None:
        log.info("question already claimed", extra={"question_id": str(question_id)})
        return False
    stream = AnswerStream(get_redis(), question_id, settings.answer_stream_ttl_seconds)
    try:
        if isinstance(claim, Failure):
            return await _fail_before_start(tenant_id, question_id, stream, claim)
        search_budget = None if deadline is None else max(deadline - DEADLINE_MARGIN - time.monotonic(), 0.001)
        prepared = await _prompt(tenant_id, claim, settings, search_budget)
        if isinstance(prepared, Failure):
            return await _fail_before_start(tenant_id, question_id, stream, prepared)
        if await cancel.requested(stream.redis, question_id):  # stopped while its sources were found
            return await _fail_before_start(tenant_id, question_id, stream, CANCELLED)

        prompt, target = prepared.prompt, prepared.target
        references = prompt.references()
        await stream.add("first_chunk", {"session_id": str(claim.session_id), "model": target.model,
                                         "references": references})
    except Exception as exc:
        if unavailable(exc) is not None:
            await _release(tenant_id, question_id)
        raise
    batcher = text_batcher(stream, settings.answer_stream_batch_ms)
    watch = stream.cancel_watch = cancel.CancelWatch(stream.redis, question_id)
    parts: list[str] = []
    usage: Usage | None = None
    failure: Failure | None = None
    started = time.monotonic()
    budget = None if deadline is None else max(deadline - DEADLINE_MARGIN - started, 0.0)
    retry = RetryPolicy(max_attempts=settings.provider_max_attempts,
                        idle_timeout=min(settings.provider_idle_timeout_seconds, budget or float("inf")) or 0.001)

    unmasker = prepared.masking.unmasker()  # placeholders back to the values, even split across tokens

    async def read() -> None:
        nonlocal usage
        async with aclosing(stream_chat(target.config, prompt.request, retry)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    text = storable_text(unmasker.feed(event.text))
                    if text:
                        parts.append(text)
                        await batcher.add(text)
                elif isinstance(event, Usage):
                    usage = event
            if held := unmasker.end():
                parts.append(held)
                await batcher.add(held)

    try:
        async with asyncio.timeout(budget):  # also while waiting for the provider, not only between tokens
            if not await watch.run(read()):  # the asker stopped it: the provider's stream is closed
                failure = CANCELLED
                # what the provider generated until the close, as far as we can tell (it reports usage at the end)
                usage = estimate_usage(prompt.request, "".join(parts))
    except TimeoutError:
        failure = Failure("answer_timeout", "The answer took longer than this function may run; "
                                            "the part that arrived is kept")
    except ProviderError as exc:
        failure = Failure(exc.code, exc.message)
    except Exception as exc:  # a text write failed (Redis gone), or a bug
        failure = _failed(exc, question_id, "answer failed", "The answer failed on our side; ask again")
    answer = "".join(parts)
    try:
        await batcher.flush()
    except Exception as exc:  # the text could not all be streamed: the answer failed, and is still saved
        failure = failure or _failed(exc, question_id, "answer failed", "The answer failed on our side; ask again")
    try:
        ours = await _finish(tenant_id, question_id, answer=answer, usage=usage, failure=failure,
                             references=references, routed_to=target if prepared.routed else None)
    except Exception as exc:  # the database failed now: still end the stream, or clients wait for nothing
        failure = _failed(exc, question_id, "saving the answer failed", "The answer could not be saved; ask again")
        ours = True
    log.info("question answered", extra={
        "question_id": str(question_id),
        "status": ("cancelled" if failure == CANCELLED else "failed") if failure else "completed",
        "error_code": failure.code if failure else None, "seconds": round(time.monotonic() - started, 3),
        "output_tokens": usage.output_tokens if usage else None, "saved": ours})
    if not ours:
        return True  # a reader failed it as lost meanwhile and wrote the terminal entry
    # `end`, not `add`: a reader that found the saved outcome first may have ended the stream already
    # (eneo.answers.recovery.end_stream), and a stream has exactly one terminal entry.
    if failure:
        await _end(stream, "error", {"code": failure.code, "message": failure.message, "partial": bool(answer)})
    else:
        usage_data = {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens} if usage else None
        await _end(stream, "done", {"usage": usage_data})
    return True
