"""Retention periods of conversations (eneo.privacy): who may set them where, which one applies, and the
scheduled retention function (functions/retention) deleting exactly what is due: other tenants' rows,
assistants without a period and newer questions stay; emptied old sessions and the answers' Redis streams go."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from eneo.answers.stream import stream_key
from eneo.core.db import UnitOfWork
from eneo.core.ids import utcnow
from eneo.core.redis import get_redis
from eneo.privacy.sweep import run_retention
from eneo.sessions.models import Question, QuestionStatus, Session
from eneo.users.models import UserRole
from tests.fakes.llm_server import FakeLLMServer
from tests.integration.conftest import Member, Org, load_function
from tests.integration.pipeline import invoke
from tests.integration.test_audit import entries
from tests.integration.test_sessions import Chat, make_chat

SCHEDULED_EVENT = {
    "version": "0", "id": "0b7b5a43-3a3e-4c8f-9f0e-6f4b1a0c2d11", "detail-type": "Scheduled Event",
    "source": "aws.events", "account": "123456789012", "time": "2026-12-06T04:00:00Z", "region": "eu-north-1",
    "resources": ["arn:aws:events:eu-north-1:123456789012:rule/eneo-RetentionFunctionRetention"], "detail": {}}


async def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json() if r.content else None


async def new_chat(client: httpx.AsyncClient, make_user: Callable[..., Any], fake: FakeLLMServer) -> Chat:
    admin = await make_user()
    return await make_chat(client, admin, await make_user(Org(admin.tenant_id, ""), UserRole.user), fake)


async def another_assistant(client: httpx.AsyncClient, chat: Chat, space_id: str | None = None) -> tuple[str, str]:
    """(space id, assistant id): a new published assistant of the chat's model, in `space_id` or a new space."""
    if space_id is None:
        space_id = (await _ok(await client.post("/api/v1/spaces/", json={"name": f"S-{uuid.uuid4().hex[:6]}"},
                                                headers=chat.admin.headers), 201))["id"]
    a = await _ok(await client.post(f"/api/v1/spaces/{space_id}/applications/assistants/", headers=chat.admin.headers,
                                    json={"name": "Other", "system_prompt": "Kort.", "published": True,
                                          "completion_model_id": chat.model}), 201)
    return space_id, a["id"]


# The API: who sets what, and which period applies.

async def test_the_most_specific_period_set_applies_and_clearing_falls_back(
        client: httpx.AsyncClient, make_user: Callable[..., Any], fake: FakeLLMServer) -> None:
    chat = await new_chat(client, make_user, fake)
    h = chat.admin.headers
    a_url, s_url = f"/api/v1/retention/assistants/{chat.assistant}/", f"/api/v1/retention/spaces/{chat.space}/"

    none = await _ok(await client.get(a_url, headers=h))
    assert none == {"scope": "assistant", "target_id": chat.assistant, "days": None, "effective_days": None,
                    "effective_scope": None}
    assert (await _ok(await client.put("/api/v1/retention/tenant/", json={"days": 90}, headers=h)))["days"] == 90
    assert (await _ok(await client.get(a_url, headers=h)))["effective_days"] == 90
    await _ok(await client.put(s_url, json={"days": 30}, headers=h))
    got = await _ok(await client.get(a_url, headers=h))
    assert (got["days"], got["effective_days"], got["effective_scope"]) == (None, 30, "space")
    got = await _ok(await client.put(a_url, json={"days": 7}, headers=h))
    assert (got["days"], got["effective_days"], got["effective_scope"]) == (7, 7, "assistant")
    got = await _ok(await client.put(a_url, json={"days": 14}, headers=h))  # a second PUT changes the one row
    assert (got["days"], got["effective_days"]) == (14, 14)
    space = await _ok(await client.get(s_url, headers=h))
    assert (space["days"], space["effective_days"], space["effective_scope"]) == (30, 30, "space")

    await _ok(await client.delete(a_url, headers=h), 204)
    assert (await _ok(await client.get(a_url, headers=h)))["effective_days"] == 30
    await _ok(await client.delete(s_url, headers=h), 204)
    assert (await _ok(await client.get(a_url, headers=h)))["effective_scope"] == "tenant"
    await _ok(await client.delete("/api/v1/retention/tenant/", headers=h), 204)
    await _ok(await client.delete("/api/v1/retention/tenant/", headers=h), 204)  # clearing twice is no error
    assert (await _ok(await client.get(a_url, headers=h)))["effective_days"] is None


async def test_only_the_right_admins_set_periods(
        client: httpx.AsyncClient, make_user: Callable[..., Any], fake: FakeLLMServer) -> None:
    chat = await new_chat(client, make_user, fake)  # the viewer is a plain user and a viewer of the space
    viewer, body = chat.viewer.headers, {"json": {"days": 5}}
    r = await client.put("/api/v1/retention/tenant/", headers=viewer, **body)
    assert (r.status_code, r.json()["code"]) == (403, "permission_required")
    r = await client.put(f"/api/v1/retention/spaces/{chat.space}/", headers=viewer, **body)
    assert (r.status_code, r.json()["code"]) == (403, "space_role_required")
    r = await client.put(f"/api/v1/retention/assistants/{chat.assistant}/", headers=viewer, **body)
    assert (r.status_code, r.json()["code"]) == (403, "space_role_required")
    r = await client.delete(f"/api/v1/retention/assistants/{chat.assistant}/", headers=viewer)
    assert r.status_code == 403
    # ...but a member reads how long their conversations are kept
    await _ok(await client.get(f"/api/v1/retention/assistants/{chat.assistant}/", headers=viewer))
    await _ok(await client.get(f"/api/v1/retention/spaces/{chat.space}/", headers=viewer))
    await _ok(await client.get("/api/v1/retention/tenant/", headers=viewer))

    # an editor of the space (not a tenant admin) sets the assistant's, not the space's
    editor: Member = await make_user(Org(chat.admin.tenant_id, ""), UserRole.user)
    await _ok(await client.post(f"/api/v1/spaces/{chat.space}/members/", headers=chat.admin.headers,
                                json={"user_id": str(editor.id), "role": "editor"}), 201)
    await _ok(await client.put(f"/api/v1/retention/assistants/{chat.assistant}/", headers=editor.headers, **body))
    r = await client.put(f"/api/v1/retention/spaces/{chat.space}/", headers=editor.headers, **body)
    assert (r.status_code, r.json()["code"]) == (403, "space_role_required")

    # a user of the tenant outside the space, and another tenant's admin: 404, as if it did not exist
    outsider: Member = await make_user(Org(chat.admin.tenant_id, ""), UserRole.user)
    stranger: Member = await make_user()
    for who in (outsider, stranger):
        for url in (f"/api/v1/retention/spaces/{chat.space}/", f"/api/v1/retention/assistants/{chat.assistant}/"):
            for r in (await client.get(url, headers=who.headers), await client.put(url, headers=who.headers, **body),
                      await client.delete(url, headers=who.headers)):
                assert r.status_code == 404, (url, r.text)
    # the stranger's tenant period is their own tenant's
    await _ok(await client.put("/api/v1/retention/tenant/", headers=stranger.headers, **body))
    assert (await _ok(await client.get(f"/api/v1/retention/assistants/{chat.assistant}/",
                                       headers=chat.admin.headers)))["effective_days"] == 5  # the editor's


async def test_each_change_of_a_period_is_one_entry_written_with_it(
        client: httpx.AsyncClient, make_user: Callable[..., Any], fake: FakeLLMServer) -> None:
    """The entry rides the request's transaction: one per change, naming who (and through which key) did what
    to which period; refused changes change nothing and leave none; reads leave none."""
    chat = await new_chat(client, make_user, fake)
    h = chat.admin.headers
    key = await _ok(await client.post("/api/v1/api-keys/", json={"name": "retention"}, headers=h), 201)
    s_url = f"/api/v1/retention/spaces/{chat.space}/"
    await _ok(await client.put("/api/v1/retention/tenant/", json={"days": 90}, headers=h))
    await _ok(await client.put(s_url, json={"days": 30}, headers={"X-API-Key": key["key"]}))
    await _ok(await client.delete(s_url, headers=h), 204)
    await _ok(await client.get(s_url, headers=h))
    r = await client.put(s_url, json={"days": 5}, headers=chat.viewer.headers)
    assert (r.status_code, r.json()["code"]) == (403, "space_role_required")
    r = await client.put(s_url, json={"days": 0}, headers=h)
    assert r.status_code == 422

    logged = [e for e in await entries(client, chat.admin, action="retention.") if e["actor_id"]]
    assert [(e["action"], e["target_type"], e["target_id"], e["details"], e["actor_id"], e["api_key_id"])
            for e in reversed(logged)] == [
        ("retention.set", "tenant", str(chat.admin.tenant_id), {"days": 90}, str(chat.admin.id), None),
        ("retention.set", "space", chat.space, {"days": 30}, str(chat.admin.id), key["id"]),
        ("retention.clear", "space", chat.space, {}, str(chat.admin.id), None)]
    assert all(e["outcome"] == "success" and e["actor_label"] == chat.admin.email for e in logged)


@pytest.mark.parametrize("body", [{"days": 0}, {"days": -1}, {"days": 36501}, {"days": "forever"}, {},
                                  {"days": 5, "extra": 1}])
async def test_bad_periods_are_refused(client: httpx.AsyncClient, make_user: Callable[..., Any],
                                       body: dict[str, Any]) -> None:
    admin = await make_user()
    r = await client.put("/api/v1/retention/tenant/", json=body, headers=admin.headers)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    assert (await _ok(await client.get("/api/v1/retention/tenant/", headers=admin.headers)))["days"] is None


# The scheduled function.

@dataclass
class Asked:
    """A session with one question asked `days_ago`, and an answer stream in Redis."""

    session_id: uuid.UUID
    question_id: uuid.UUID


async def ask_at(member: Member, assistant_id: str, days_ago: float, session_id: uuid.UUID | None = None) -> Asked:
    at = utcnow() - timedelta(days=days_ago)
    async with UnitOfWork(member.tenant_id) as uow:
        if session_id is None:
            session = Session(tenant_id=member.tenant_id, assistant_id=uuid.UUID(assistant_id), user_id=member.id,
                              name="Fråga", created_at=at, updated_at=at)
            uow.session.add(session)
            await uow.session.flush()
            session_id = session.id
        q = Question(tenant_id=member.tenant_id, session_id=session_id, user_id=member.id,
                     assistant_id=uuid.UUID(assistant_id), question="Hur söker jag bygglov?", answer="Så här.",
                     status=QuestionStatus.completed, created_at=at, updated_at=at)
        uow.session.add(q)
        await uow.session.flush()
    await get_redis().xadd(stream_key(q.id), {"type": "done"})
    return Asked(session_id, q.id)


async def remaining(member: Member) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    async with UnitOfWork(member.tenant_id) as uow:
        questions = set((await uow.session.scalars(select(Question.id))).all())
        sessions = set((await uow.session.scalars(select(Session.id))).all())
    return questions, sessions


async def streams_left(ids: list[uuid.UUID]) -> set[uuid.UUID]:
    return {i for i in ids if await get_redis().exists(stream_key(i))}


AGES = (1, 3, 10, 40)  # days ago


@dataclass
class World:
    chat: Chat
    other: Chat
    asked: dict[tuple[str, int], Asked]  # (assistant label, days ago) -> its one-question session
    mixed: Asked  # one session 40 days old with questions 40 and 1 days old
    due_questions: set[uuid.UUID]
    due_sessions: set[uuid.UUID]


async def world(client: httpx.AsyncClient, make_user: Callable[..., Any], fake: FakeLLMServer) -> World:
    """Tenant 1: 30 days for the tenant, 7 for space S1, 2 for its assistant A1; A2 in S1 has none of its own (7);
    A3 in space S2 has none (the tenant's 30). Tenant 2 has the same conversations and no period at all."""
    chat, other = await new_chat(client, make_user, fake), await new_chat(client, make_user, fake)
    h = chat.admin.headers
    _, a2 = await another_assistant(client, chat, chat.space)
    _, a3 = await another_assistant(client, chat)
    await _ok(await client.put("/api/v1/retention/tenant/", json={"days": 30}, headers=h))
    await _ok(await client.put(f"/api/v1/retention/spaces/{chat.space}/", json={"days": 7}, headers=h))
    await _ok(await client.put(f"/api/v1/retention/assistants/{chat.assistant}/", json={"days": 2}, headers=h))
    periods = {"A1": (chat.assistant, 2), "A2": (a2, 7), "A3": (a3, 30)}
    asked, due_q, due_s = {}, set(), set()
    for label, (assistant_id, days) in periods.items():
        for age in AGES:
            a = asked[(label, age)] = await ask_at(chat.viewer, assistant_id, age)
            if age > days:
                due_q.add(a.question_id)
                due_s.add(a.session_id)
    for age in AGES:
        asked[("other", age)] = await ask_at(other.viewer, other.assistant, age)
    mixed = await ask_at(chat.viewer, a3, 40)
    await ask_at(chat.viewer, a3, 1, mixed.session_id)  # a follow-up yesterday: the session stays
    due_q.add(mixed.question_id)
    return World(chat, other, asked, mixed, due_q, due_s)


async def test_the_retention_function_deletes_exactly_what_is_due(
        client: httpx.AsyncClient, make_user: Callable[..., Any], fake: FakeLLMServer) -> None:
    w = await world(client, make_user, fake)
    before_q, before_s = await remaining(w.chat.viewer)
    other_before = await remaining(w.other.viewer)
    all_ids = [a.question_id for a in w.asked.values()] + [w.mixed.question_id]

    result = await invoke(load_function("retention"), SCHEDULED_EVENT)

    assert result["failed"] == 0 and result["finished"] is True
    assert result["questions"] >= len(w.due_questions) and result["sessions"] >= len(w.due_sessions)
    after_q, after_s = await remaining(w.chat.viewer)
    assert after_q == before_q - w.due_questions
    assert after_s == before_s - w.due_sessions
    assert w.mixed.session_id in after_s
    assert await remaining(w.other.viewer) == other_before  # a tenant without a period keeps everything
    assert await streams_left(all_ids) == set(all_ids) - w.due_questions
    # What a user notices: the expired conversation is gone from the list and by its id.
    listed = await _ok(await client.get(f"/api/v1/assistants/{w.chat.assistant}/sessions/",
                                        headers=w.chat.viewer.headers))
    assert {s["id"] for s in listed["items"]} == {str(w.asked[("A1", 1)].session_id)}
    gone = w.asked[("A1", 3)]
    r = await client.get(f"/api/v1/assistants/{w.chat.assistant}/sessions/{gone.session_id}/",
                         headers=w.chat.viewer.headers)
    assert r.status_code == 404

    again = await invoke(load_function("retention"), SCHEDULED_EVENT)  # idempotent: nothing more is due
    assert await remaining(w.chat.viewer) == (after_q, after_s)
    assert again["finished"] is True


async def test_a_run_out_of_time_stops_and_the_next_run_goes_on(
        client: httpx.AsyncClient, make_user: Callable[..., Any], fake: FakeLLMServer) -> None:
    w = await world(client, make_user, fake)
    before_q, before_s = await remaining(w.chat.viewer)

    stopped = await run_retention(deadline=time.monotonic())  # no time left: no batch starts
    assert stopped.finished is False
    assert await remaining(w.chat.viewer) == (before_q, before_s)

    done = await run_retention(deadline=time.monotonic() + 600, batch=2)  # many small batches
    assert done.finished is True
    assert await remaining(w.chat.viewer) == (before_q - w.due_questions, before_s - w.due_sessions)
