"""`Idempotency-Key` on asks: a client that sends an ask again (its first response timed out) gets the same
question back, answered once, never a second question."""

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta

import httpx
import psycopg
import pytest
from sqlalchemy import func, select, update

from eneo.core.db import UnitOfWork
from eneo.core.errors import AppError
from eneo.core.ids import utcnow
from eneo.sessions.api import get_invoker
from eneo.sessions.models import IdempotencyKey, Question
from eneo.users.models import UserRole
from eneo_local.services import Endpoints
from tests.fakes.llm_server import FakeLLMServer
from tests.integration.conftest import FunctionApps, Member, Org
from tests.integration.test_sessions import Chat, make_chat


@pytest.fixture
def invoked(function_apps: FunctionApps) -> Iterator[list[uuid.UUID]]:
    """The questions handed to `complete` (not answered: these tests are about what was accepted)."""
    handed: list[uuid.UUID] = []
    function_apps["SessionsFunction"].dependency_overrides[get_invoker] = lambda: (
        lambda _tenant, question_id: handed.append(question_id))
    yield handed


def keyed(who: Member, key: str) -> dict[str, str]:
    return who.headers | {"Idempotency-Key": key}


async def questions_of(user: Member) -> int:
    async with UnitOfWork(user.tenant_id) as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(Question)
                                            .where(Question.user_id == user.id)) or 0)


async def test_the_same_key_and_body_answers_with_the_first_question(client: httpx.AsyncClient, chat: Chat,
                                                                     fake: FakeLLMServer) -> None:
    key = str(uuid.uuid4())
    body = {"question": "Hur söker jag bygglov?"}
    first = await client.post(chat.sessions, json=body, headers=keyed(chat.admin, key))
    again = await client.post(chat.sessions, json=body, headers=keyed(chat.admin, key))
    assert (first.status_code, again.status_code) == (201, 201), again.text
    assert again.json() == first.json()
    assert len(fake.requests) == 1, "answered once"
    assert await questions_of(chat.admin) == 1


async def test_a_streamed_ask_sent_again_is_not_invoked_again(client: httpx.AsyncClient, chat: Chat,
                                                              invoked: list[uuid.UUID]) -> None:
    body, key = {"question": "Vad kostar det?", "stream": True}, str(uuid.uuid4())
    first = await client.post(chat.sessions, json=body, headers=keyed(chat.admin, key))
    assert first.status_code == 202, first.text
    follow_up = f"{chat.sessions}{first.json()['session_id']}/"
    asked = await client.post(follow_up, json=body, headers=keyed(chat.admin, "follow-up"))
    again = [await client.post(chat.sessions, json=body, headers=keyed(chat.admin, key)),
             await client.post(follow_up, json=body, headers=keyed(chat.admin, "follow-up"))]
    assert [r.status_code for r in again] == [202, 202]
    assert [r.json()["question"]["id"] for r in again] == [first.json()["question"]["id"],
                                                          asked.json()["question"]["id"]]
    assert again[0].json()["stream"] == first.json()["stream"]
    assert len(invoked) == 2 and await questions_of(chat.admin) == 2


async def test_concurrent_asks_with_one_key_make_one_question(client: httpx.AsyncClient, chat: Chat,
                                                              invoked: list[uuid.UUID]) -> None:
    body, key = {"question": "Samtidigt?", "stream": True}, str(uuid.uuid4())
    replies = await asyncio.gather(*(client.post(chat.sessions, json=body, headers=keyed(chat.admin, key))
                                     for _ in range(4)))
    assert [r.status_code for r in replies] == [202] * 4
    assert len({r.json()["question"]["id"] for r in replies}) == 1
    assert len(invoked) == 1 and await questions_of(chat.admin) == 1


async def test_a_key_sent_with_another_request_is_refused(client: httpx.AsyncClient, chat: Chat,
                                                          invoked: list[uuid.UUID]) -> None:
    key = str(uuid.uuid4())
    first = await client.post(chat.sessions, json={"question": "Ett", "stream": True}, headers=keyed(chat.admin, key))
    assert first.status_code == 202, first.text
    for body in ({"question": "Två", "stream": True}, {"question": "Ett"}):
        r = await client.post(chat.sessions, json=body, headers=keyed(chat.admin, key))
        assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused", r.text
    r = await client.post(f"{chat.sessions}{first.json()['session_id']}/", json={"question": "Ett", "stream": True},
                          headers=keyed(chat.admin, key))
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused", "another session is another request"
    assert len(invoked) == 1 and await questions_of(chat.admin) == 1


async def test_keys_are_per_user(client: httpx.AsyncClient, chat: Chat, make_user, fake: FakeLLMServer,
                                 invoked: list[uuid.UUID]) -> None:
    body, key = {"question": "Samma nyckel", "stream": True}, str(uuid.uuid4())
    mine = await client.post(chat.sessions, json=body, headers=keyed(chat.admin, key))
    colleague = await client.post(chat.sessions, json=body, headers=keyed(chat.viewer, key))
    stranger = await make_user()  # another tenant, with an assistant of its own
    elsewhere = await make_chat(client, stranger, await make_user(Org(stranger.tenant_id, ""), UserRole.user), fake)
    other_tenant = await client.post(elsewhere.sessions, json=body, headers=keyed(stranger, key))
    replies = [mine, colleague, other_tenant]
    assert [r.status_code for r in replies] == [202] * 3, other_tenant.text
    assert len({r.json()["question"]["id"] for r in replies}) == 3
    assert len(invoked) == 3


async def test_an_expired_key_asks_afresh(client: httpx.AsyncClient, chat: Chat, invoked: list[uuid.UUID]) -> None:
    body, key = {"question": "Igår", "stream": True}, str(uuid.uuid4())
    first = await client.post(chat.sessions, json=body, headers=keyed(chat.admin, key))
    async with UnitOfWork(chat.admin.tenant_id) as uow:
        await uow.session.execute(update(IdempotencyKey).where(IdempotencyKey.user_id == chat.admin.id)
                                  .values(expires_at=utcnow() - timedelta(seconds=1)))
    again = await client.post(chat.sessions, json=body, headers=keyed(chat.admin, key))
    assert again.status_code == 202, again.text
    assert again.json()["question"]["id"] != first.json()["question"]["id"]
    async with UnitOfWork(chat.admin.tenant_id) as uow:
        kept = (await uow.session.scalars(select(IdempotencyKey).where(IdempotencyKey.user_id == chat.admin.id))).all()
    assert [(k.key, str(k.question_id)) for k in kept] == [(key, again.json()["question"]["id"])]


async def test_an_ask_with_a_new_key_clears_the_users_expired_keys(client: httpx.AsyncClient, chat: Chat,
                                                                    invoked: list[uuid.UUID]) -> None:
    old, kept, new = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    for key in (old, kept):
        r = await client.post(chat.sessions, json={"question": key, "stream": True}, headers=keyed(chat.admin, key))
        assert r.status_code == 202, r.text
    async with UnitOfWork(chat.admin.tenant_id) as uow:
        await uow.session.execute(update(IdempotencyKey).where(IdempotencyKey.key == old)
                                  .values(expires_at=utcnow() - timedelta(seconds=1)))
    r = await client.post(chat.sessions, json={"question": new, "stream": True}, headers=keyed(chat.admin, new))
    assert r.status_code == 202, r.text
    async with UnitOfWork(chat.admin.tenant_id) as uow:
        left = (await uow.session.scalars(
            select(IdempotencyKey.key).where(IdempotencyKey.user_id == chat.admin.id))).all()
    assert sorted(left) == sorted([kept, new])


async def test_unusable_keys_are_refused_before_anything_is_saved(client: httpx.AsyncClient, chat: Chat,
                                                                  invoked: list[uuid.UUID]) -> None:
    body = {"question": "Nyckeln?", "stream": True}
    for key in ("k" * 256, " ", "tab\tinside"):
        r = await client.post(chat.sessions, json=body, headers=keyed(chat.admin, key))
        assert r.status_code == 422 and r.json()["code"] == "invalid_idempotency_key", (key, r.text)
    assert await questions_of(chat.admin) == 0
    r = await client.post(chat.sessions, json=body, headers=keyed(chat.admin, "k" * 255))
    assert r.status_code == 202, r.text


async def test_an_ask_whose_answer_could_not_start_may_be_sent_again(client: httpx.AsyncClient, chat: Chat,
                                                                     function_apps: FunctionApps) -> None:
    def unavailable(_tenant: uuid.UUID, _question: uuid.UUID) -> None:
        raise AppError("complete is down", code="complete_unavailable")

    overrides = function_apps["SessionsFunction"].dependency_overrides
    overrides[get_invoker] = lambda: unavailable
    body, key = {"question": "Nu då?", "stream": True}, str(uuid.uuid4())
    first = await client.post(chat.sessions, json=body, headers=keyed(chat.admin, key))
    assert first.json()["code"] == "complete_unavailable"
    handed: list[uuid.UUID] = []
    overrides[get_invoker] = lambda: (lambda _tenant, question_id: handed.append(question_id))
    again = await client.post(chat.sessions, json=body, headers=keyed(chat.admin, key))
    assert again.status_code == 202, again.text
    assert [str(q) for q in handed] == [again.json()["question"]["id"]]


async def test_keys_are_behind_row_level_security(client: httpx.AsyncClient, chat: Chat, make_user, db: Endpoints,
                                                  invoked: list[uuid.UUID]) -> None:
    r = await client.post(chat.sessions, json={"question": "RLS", "stream": True}, headers=keyed(chat.admin, "rls"))
    assert r.status_code == 202, r.text
    stranger = await make_user()
    with psycopg.connect(db.database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        count = "SELECT count(*) FROM idempotency_keys WHERE key = 'rls'"
        assert conn.execute(count).fetchone()[0] == 0, "no tenant bound: nothing"
        for tenant, seen in ((stranger.tenant_id, 0), (chat.admin.tenant_id, 1)):
            with conn.transaction():
                conn.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant)])
                assert conn.execute(count).fetchone()[0] == seen
