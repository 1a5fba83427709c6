"""Token and storage usage, quotas and rate limits through the functions.

Tokens are the providers' reported usage, counted per tenant, user, assistant, model and day when the answer
is saved. A quota that is reached refuses the next question with 429 and Retry-After before it is saved, so
the model server (the fake) sees no request; an upload over the storage quota is refused with 413 and nothing
is stored. Rate limits per user and per API key answer 429 with Retry-After.
"""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from eneo.core.db import UnitOfWork
from eneo.core.settings import get_settings
from eneo.sessions.models import Question
from eneo.users.models import UserRole
from tests.fakes.llm_server import FakeLLMServer
from tests.integration.conftest import Org
from tests.integration.test_knowledge import Storage, knowledge_env  # noqa: F401 - a fixture
from tests.integration.test_sessions import Chat

USAGE = "/api/v1/token-usage/"
QUOTAS = "/api/v1/quotas/"


async def ask(client: httpx.AsyncClient, chat: Chat, who: Any, stream: bool = False) -> httpx.Response:
    return await client.post(chat.sessions, json={"question": "Hur många tokens?", "stream": stream},
                             headers=who.headers)


async def questions(tenant_id: uuid.UUID) -> int:
    async with UnitOfWork(tenant_id) as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(Question)) or 0)


async def test_tokens_are_counted_per_user_assistant_model_and_day(client: httpx.AsyncClient, chat: Chat,
                                                                   fake: FakeLLMServer) -> None:
    answered = []
    for who in (chat.admin, chat.admin, chat.viewer):
        r = await ask(client, chat, who)
        assert r.status_code == 201, r.text
        answered.append(r.json()["question"]["usage"])
    assert all(u["output_tokens"] == 4 and u["input_tokens"] > 0 for u in answered)
    h = chat.admin.headers
    total = (await client.get(USAGE, headers=h)).json()
    assert total["group_by"] == [] and len(total["items"]) == 1
    assert total["items"][0] | {} == {
        "input_tokens": sum(u["input_tokens"] for u in answered), "output_tokens": 12,
        "total_tokens": sum(u["input_tokens"] for u in answered) + 12, "questions": 3,
        "day": None, "month": None, "user_id": None, "user_name": None, "assistant_id": None,
        "assistant_name": None, "model_id": None, "model_name": None}
    today = datetime.now(UTC).date().isoformat()
    by_user = (await client.get(USAGE, params={"group_by": ["user", "day", "model", "assistant"]},
                                headers=h)).json()["items"]
    assert sorted((r["user_name"], r["questions"], r["output_tokens"], r["day"], r["model_id"], r["assistant_name"])
                  for r in by_user) == sorted([
                      (chat.admin.email, 2, 8, today, chat.model, "Helper"),
                      (chat.viewer.email, 1, 4, today, chat.model, "Helper")])
    mine = (await client.get(USAGE, params={"user_id": str(chat.viewer.id)}, headers=h)).json()["items"]
    assert [r["questions"] for r in mine] == [1]
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    old = (await client.get(USAGE, params={"start": (yesterday - timedelta(days=30)).isoformat(),
                                           "end": yesterday.isoformat()}, headers=h)).json()
    assert old["items"][0]["questions"] == 0
    # Usage outlives the questions: deleting the sessions does not give tokens back.
    for s in (await client.get(chat.sessions, headers=h)).json()["items"]:
        assert (await client.delete(f"{chat.sessions}{s['id']}/", headers=h)).status_code == 204
    assert (await client.get(USAGE, headers=h)).json()["items"][0]["questions"] == 3


async def test_a_token_quota_refuses_the_next_question_before_the_provider_is_called(
        client: httpx.AsyncClient, chat: Chat, fake: FakeLLMServer) -> None:
    h = chat.admin.headers
    r = await client.patch(QUOTAS, json={"tokens_per_user_per_month": 1}, headers=h)
    assert r.status_code == 200 and r.json()["tokens_per_user_per_month"] == 1, r.text
    assert (await ask(client, chat, chat.admin)).status_code == 201  # nothing used yet: within the quota
    sent, saved = len(fake.requests), await questions(chat.admin.tenant_id)
    for stream in (False, True):
        r = await ask(client, chat, chat.admin, stream)
        assert r.status_code == 429, r.text
        assert r.json()["code"] == "user_token_quota_exceeded"
        assert "tokens for this month" in r.json()["message"]
        first_of_next = (date.today().replace(day=1) + timedelta(days=32)).replace(day=1)
        wait = int(r.headers["retry-after"])
        assert 0 < wait <= (datetime.combine(first_of_next, datetime.min.time(), UTC) - datetime.now(UTC)
                            ).total_seconds() + 1
    assert len(fake.requests) == sent, "the model was not asked"
    assert await questions(chat.admin.tenant_id) == saved, "nothing was saved"
    assert (await ask(client, chat, chat.viewer)).status_code == 201  # another user has their own quota

    r = await client.patch(QUOTAS, json={"tokens_per_user_per_month": None, "tokens_per_month": 5}, headers=h)
    assert r.json()["tokens_used_this_month"] > 5
    sent = len(fake.requests)
    r = await ask(client, chat, chat.viewer)
    assert (r.status_code, r.json()["code"]) == (429, "tenant_token_quota_exceeded")
    assert len(fake.requests) == sent
    await client.patch(QUOTAS, json={"tokens_per_month": None}, headers=h)
    assert (await ask(client, chat, chat.viewer)).status_code == 201
    changes = (await client.get("/api/v1/audit/logs/", params={"action": "quota.updated"}, headers=h)).json()
    assert [e["details"] for e in changes["items"]][-1] == {"changed": ["tokens_per_user_per_month"],
                                                            "tokens_per_user_per_month": 1}


async def test_storage_per_collection_and_its_quota(client: httpx.AsyncClient, make_user: Any,
                                                    knowledge_env: Storage) -> None:  # noqa: F811
    admin = await make_user()
    h = admin.headers
    space = (await client.post("/api/v1/spaces/", json={"name": "S"}, headers=h)).json()["id"]
    groups = [(await client.post(f"/api/v1/spaces/{space}/knowledge/groups/", json={"name": n}, headers=h)).json()
              for n in ("Stor", "Liten", "Tom")]
    for group, size in ((groups[0], 3000), (groups[1], 1000)):
        r = await client.post(f"/api/v1/groups/{group['id']}/info-blobs/upload/", headers=h,
                              files={"file": ("a.txt", b"x" * (size - 1) + b"\n", "text/plain")})
        assert r.status_code == 202, r.text
    storage = (await client.get("/api/v1/storage-usage/", headers=h)).json()
    assert (storage["bytes"], storage["documents"], storage["quota_bytes"]) == (4000, 2, None)
    assert [(c["name"], c["bytes"], c["documents"]) for c in storage["collections"]] == [
        ("Stor", 3000, 1), ("Liten", 1000, 1), ("Tom", 0, 0)]

    await client.patch(QUOTAS, json={"storage_bytes": 4500}, headers=h)
    objects = knowledge_env.object_keys()
    r = await client.post(f"/api/v1/groups/{groups[2]['id']}/info-blobs/upload/", headers=h,
                          files={"file": ("b.txt", b"y" * 600, "text/plain")})
    assert (r.status_code, r.json()["code"]) == (413, "storage_quota_exceeded"), r.text
    r = await client.post(f"/api/v1/groups/{groups[2]['id']}/info-blobs/upload-url/", headers=h,
                          json={"filename": "c.txt", "content_type": "text/plain", "size_bytes": 501})
    assert (r.status_code, r.json()["code"]) == (413, "storage_quota_exceeded"), r.text
    assert knowledge_env.object_keys() == objects, "nothing stored"
    assert (await client.get("/api/v1/storage-usage/", headers=h)).json()["documents"] == 2
    r = await client.post(f"/api/v1/groups/{groups[2]['id']}/info-blobs/upload/", headers=h,
                          files={"file": ("d.txt", b"z" * 500, "text/plain")})
    assert r.status_code == 202, r.text  # exactly up to the quota
    assert (await client.get(QUOTAS, headers=h)).json()["storage_used_bytes"] == 4500


async def test_usage_and_quotas_are_for_admins_and_bad_ranges_are_refused(client: httpx.AsyncClient,
                                                                          make_user: Any) -> None:
    admin = await make_user()
    user = await make_user(Org(admin.tenant_id, ""), UserRole.user)
    for method, path in (("GET", USAGE), ("GET", QUOTAS), ("PATCH", QUOTAS), ("GET", "/api/v1/storage-usage/")):
        r = await client.request(method, path, headers=user.headers, json={} if method == "PATCH" else None)
        assert (r.status_code, r.json()["code"]) == (403, "permission_required"), (method, path)
    for params, field in (({"start": "2026-02-01", "end": "2026-01-01"}, "end"),
                          ({"start": "2020-01-01", "end": "2026-01-01"}, "end"),
                          ({"group_by": "tenant"}, "group_by[0]"), ({"start": "yesterday"}, "start")):
        r = await client.get(USAGE, params=params, headers=admin.headers)
        assert r.status_code == 422 and field in {d["field"] for d in r.json()["details"]}, (params, r.text)
    for body in ({"tokens_per_month": -1}, {"storage_bytes": "lots"}, {"tokens": 5}):
        r = await client.patch(QUOTAS, json=body, headers=admin.headers)
        assert r.status_code == 422, body


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> Any:
    def set_limits(user: int, key: int) -> None:
        monkeypatch.setenv("RATE_LIMIT_USER_PER_MINUTE", str(user))
        monkeypatch.setenv("RATE_LIMIT_API_KEY_PER_MINUTE", str(key))
        get_settings.cache_clear()

    yield set_limits
    get_settings.cache_clear()


async def test_rate_limits_per_user_and_per_api_key(client: httpx.AsyncClient, chat: Chat, fake: FakeLLMServer,
                                                    limits: Any) -> None:
    key = (await client.post("/api/v1/api-keys/", json={"name": "skript"}, headers=chat.viewer.headers)).json()
    limits(user=8, key=3)
    by_key = {"X-API-Key": key["key"]}
    assert [(await client.get("/api/v1/users/me/", headers=by_key)).status_code for _ in range(3)] == [200] * 3
    r = await client.get("/api/v1/users/me/", headers=by_key)
    assert (r.status_code, r.json()["code"]) == (429, "rate_limited")
    assert 0 < int(r.headers["retry-after"]) <= 60 and "API key" in r.json()["message"]
    # The user's token still works (4 of their 8 used), until the user's own limit.
    statuses = [(await client.get("/api/v1/users/me/", headers=chat.viewer.headers)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 200]
    sent = len(fake.requests)
    r = await ask(client, chat, chat.viewer)
    assert (r.status_code, r.json()["code"]) == (429, "rate_limited") and "user" in r.json()["message"]
    assert len(fake.requests) == sent, "the model was not asked"
    assert (await client.get("/api/v1/users/me/", headers=chat.admin.headers)).status_code == 200  # others unaffected
