"""The sources of an answer: what the assistant's collections say about the question.

Who reads: the asker. An assistant's collections are in its own space (eneo.assistants.service
checks that), and only members of that space may use it, so the asker can normally read them all;
the check is repeated here at answer time with the asker's current rights, so someone removed from
the space since the question was asked gets no chunk of it, and a link made around the API (a
collection of another space) reads nothing the asker could not open.
An API key acts for its owner: an assistant-scoped key reaches only its own assistant (sessions
check that), and its answers read that assistant's collections as far as the key's owner may read
them; a key never reads more than its owner could.

The database is used in one transaction (rights, the query's embedding, the search) and released
before the answer streams; the embedding inside it takes ~0.1 s with the local model. A retrieval
that fails or takes longer than RETRIEVAL_TIMEOUT seconds (an embedding server that is down or
hangs) is a RetrievalFailed, which fails the answer with `retrieval_failed`.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence

from sqlalchemy import select

from eneo.answers.context import Source
from eneo.assistants.models import AssistantGroup
from eneo.auth.principal import Principal, check_account
from eneo.core.db import UnitOfWork
from eneo.core.errors import AppError
from eneo.embeddings import Embedder, EmbeddingError
from eneo.knowledge.service.access import readable_group_ids
from eneo.permissions.holders import permissions_of
from eneo.retrieval.service import retrieve_for_question

log = logging.getLogger("eneo.answers")

RETRIEVAL_TIMEOUT = 30.0  # seconds; an embedder that hangs must not hold the answer until the function dies
SOURCES_LIMIT = 8  # chunks retrieved per question; context.py keeps those that fit the model


class RetrievalFailed(AppError):
    status, code = 502, "retrieval_failed"


async def assistant_group_ids(uow: UnitOfWork, assistant_id: uuid.UUID) -> list[uuid.UUID]:
    return list((await uow.session.scalars(
        select(AssistantGroup.group_id).where(AssistantGroup.assistant_id == assistant_id,
                                              AssistantGroup.tenant_id == uow.tenant_id)
        .order_by(AssistantGroup.group_id))).all())


async def _asker(uow: UnitOfWork, user_id: uuid.UUID) -> Principal:
    """The asker as a principal for the access rules; Forbidden if the account may no longer act."""
    user = await check_account(uow, user_id)
    return Principal(user.id, user.tenant_id, user.email, user.role, "token",
                     permissions=await permissions_of(uow, user))


async def _search(tenant_id: uuid.UUID, user_id: uuid.UUID, group_ids: Sequence[uuid.UUID], question: str,
                  earlier_questions: Sequence[str], limit: int, mask: bool) -> list[Source]:
    async with UnitOfWork(tenant_id) as uow:
        readable = await readable_group_ids(uow.session, await _asker(uow, user_id), list(group_ids))
        if not readable:
            return []

        async def masking_embedder(model_id: uuid.UUID) -> Embedder:
            from eneo.model_providers.clients import load_embedder  # as retrieval does: no key work at import

            return (await load_embedder(uow.session, tenant_id, model_id, mask=True))[1]

        hits = await retrieve_for_question(uow.session, tenant_id=tenant_id, group_ids=readable, question=question,
                                           history=list(earlier_questions), limit=limit,
                                           embedder_for=masking_embedder if mask else None)
    return [Source(info_blob_id=h.info_blob_id, title=h.title, chunk_index=h.chunk_index, page=h.page, text=h.text,
                   score=h.score, url=h.url) for h in hits]


async def find_sources(tenant_id: uuid.UUID, user_id: uuid.UUID, group_ids: Sequence[uuid.UUID], question: str,
                       earlier_questions: Sequence[str], *, within: float | None = None,
                       limit: int = SOURCES_LIMIT, mask: bool = False) -> list[Source]:
    """The chunks of the collections the asker may read that best answer `question`, best first.

    `earlier_questions` (oldest first) are the session's questions: a follow-up such as "and for
    adults?" is searched together with the latest of them (eneo.retrieval.service.question_query).
    `within`: seconds left for it (at most RETRIEVAL_TIMEOUT). `mask`: an external embedding model gets the
    question masked (eneo.answers.protection.embeddings_masked). RetrievalFailed on any failure.
    """
    timeout = RETRIEVAL_TIMEOUT if within is None else min(within, RETRIEVAL_TIMEOUT)
    try:
        async with asyncio.timeout(timeout):
            return await _search(tenant_id, user_id, group_ids, question, earlier_questions, limit, mask)
    except TimeoutError:
        raise RetrievalFailed(f"Searching the assistant's knowledge took longer than {timeout:g} s "
                              "(is the embedding model reachable?); ask again") from None
    except (AppError, EmbeddingError) as exc:
        log.warning("retrieval failed", extra={"error_code": exc.code})
        raise RetrievalFailed(f"Searching the assistant's knowledge failed: {exc.message}") from None
    except Exception as exc:  # the embedder's or the database's own errors: their text may quote the question
        log.exception("retrieval failed", extra={"error": type(exc).__name__})
        raise RetrievalFailed("Searching the assistant's knowledge failed (the embedding model or the search "
                              "is unavailable); ask again") from None
