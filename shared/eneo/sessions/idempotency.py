"""`Idempotency-Key` on asks: a client that never got the response to an ask (a gateway timeout, a dropped
connection) sends it again with the same key and gets the question the first one made, not a second
question with a second answer.

A key belongs to the user who sent it (two users' equal keys are two keys), lasts KEY_TTL, and stands
for one request: the same key with another question, assistant, session or `stream` is refused with 422
`idempotency_key_reused`, since answering it with the first question would hide the client's mistake.
Only accepted asks keep their key, in the transaction that saves the question: an ask that was refused
(a 4xx, a dependency down) may be sent again with the same key and is then tried afresh.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from eneo.auth.principal import Principal
from eneo.core.db import UnitOfWork
from eneo.core.errors import ValidationFailed
from eneo.core.ids import new_id, utcnow
from eneo.sessions.models import IdempotencyKey
from eneo.sessions.schemas import Ask

KEY_TTL = timedelta(hours=24)
MAX_KEY_CHARS = 255
_KEY = re.compile(rf"[\x21-\x7e](?:[\x20-\x7e]{{0,{MAX_KEY_CHARS - 2}}}[\x21-\x7e])?")


class KeyReused(ValidationFailed):
    code = "idempotency_key_reused"


@dataclass(frozen=True)
class AskKey:
    """The key a client sent and a digest of the request it sent it with."""

    key: str
    request_hash: str


def ask_key(header: str | None, assistant_id: uuid.UUID, session_id: uuid.UUID | None, body: Ask) -> AskKey | None:
    """The request's key (None without the header); 422 `invalid_idempotency_key` for an unusable one."""
    if header is None:
        return None
    if not _KEY.fullmatch(header):
        raise ValidationFailed(f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} printable ASCII characters "
                               "(a UUID is a good key)", code="invalid_idempotency_key")
    request = {"assistant_id": str(assistant_id), "session_id": str(session_id) if session_id else None,
               "body": body.model_dump(mode="json")}
    digest = hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
    return AskKey(header, digest)


async def earlier_question(uow: UnitOfWork, p: Principal, key: AskKey) -> uuid.UUID | None:
    """The question an earlier ask with this key made; None if the key is new (an expired one is forgotten).

    Raises KeyReused if the key came with another request.
    """
    row = await uow.session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.user_id == p.user_id, IdempotencyKey.key == key.key))
    if row is None:
        return None
    if row.expires_at <= utcnow():
        await uow.session.delete(row)
        await uow.session.flush()
        return None
    if row.request_hash != key.request_hash:
        raise KeyReused("This Idempotency-Key came with a different request before (another question, assistant, "
                        "session or stream); send a new key for a new question")
    return row.question_id


async def remember(uow: UnitOfWork, p: Principal, key: AskKey, question_id: uuid.UUID) -> bool:
    """Keep the key with the question it made, in the question's transaction.

    False if a concurrent ask with the same key saved its question first (the insert waits for that
    transaction): roll this one back and answer with that question. The user's expired keys go here too,
    so the table holds no more than a day of each user's keys: in the same statement (a data-modifying
    CTE), as every round trip here is on the way to an answer's first token (bench/web_paint.py). An
    expired row of this very key was already deleted by `earlier_question`.
    """
    now = utcnow()
    expired = (delete(IdempotencyKey).where(IdempotencyKey.user_id == p.user_id, IdempotencyKey.expires_at <= now)
               .returning(IdempotencyKey.id).cte("expired"))
    saved = await uow.session.scalar(
        insert(IdempotencyKey)
        .values(id=new_id(), created_at=now, updated_at=now, tenant_id=p.tenant_id, user_id=p.user_id,
                question_id=question_id, key=key.key, request_hash=key.request_hash, expires_at=now + KEY_TTL)
        .on_conflict_do_nothing(index_elements=["user_id", "key"])
        .returning(IdempotencyKey.id)
        .add_cte(expired))
    return saved is not None


async def forget(uow: UnitOfWork, p: Principal, key: AskKey) -> None:
    """Drop the key of an ask that was saved but not accepted after all (its answer could not be started),
    so that sending it again tries again."""
    await uow.session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.user_id == p.user_id, IdempotencyKey.key == key.key))
