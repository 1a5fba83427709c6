"""While Redis or Postgres cannot be reached, requests answer 503 with a precise code and Retry-After, never
500, and an ask is refused before its question is saved. The functions' clients are pointed at a socket
nobody listens on: a real connection failure, as when the server died."""

import json
import logging
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from eneo.core.db import UnitOfWork, dispose_engine
from eneo.core.health import unavailable
from eneo.core.redis import close_redis
from eneo.core.settings import get_settings
from eneo.sessions.models import Question
from tests.fakes.llm_server import FakeLLMServer
from tests.integration.conftest import PASSWORD
from tests.integration.test_sessions import Chat


async def _point(variable: str, value: str) -> str:
    saved = os.environ[variable]
    os.environ[variable] = value
    get_settings.cache_clear()
    await close_redis()
    await dispose_engine()
    return saved


@pytest.fixture
async def redis_down(tmp_path: Path) -> AsyncIterator[None]:
    saved = await _point("REDIS_URL", f"unix://{tmp_path}/dead.sock")
    try:
        yield
    finally:
        await _point("REDIS_URL", saved)


@pytest.fixture
async def database_down(tmp_path: Path) -> AsyncIterator[None]:
    url = os.environ["DATABASE_URL"]
    saved = await _point("DATABASE_URL", url.split("?host=")[0] + f"?host={tmp_path}")
    try:
        yield
    finally:
        await _point("DATABASE_URL", saved)


def assert_unavailable(r: httpx.Response, code: str) -> None:
    assert r.status_code == 503, r.text
    assert r.json()["code"] == code and r.json()["request_id"] == r.headers["x-request-id"]
    assert int(r.headers["retry-after"]) > 0


async def test_login_while_redis_is_down_is_503_not_500(client: httpx.AsyncClient, chat: Chat,
                                                        redis_down: None) -> None:
    r = await client.post("/api/v1/users/login/token/", data={"username": chat.admin.email, "password": PASSWORD})
    assert_unavailable(r, "redis_unavailable")


async def test_an_ask_while_redis_is_down_is_refused_before_it_is_saved(client: httpx.AsyncClient, chat: Chat,
                                                                       fake: FakeLLMServer, redis_down: None) -> None:
    fake.reset()
    for stream in (True, False):
        r = await client.post(chat.sessions, json={"question": "Hallå?", "stream": stream}, headers=chat.admin.headers)
        assert_unavailable(r, "redis_unavailable")
    async with UnitOfWork(chat.admin.tenant_id) as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Question)) == 0, "nothing accepted"
    assert fake.requests == [], "the model was not asked"


async def test_requests_while_the_database_is_down_are_503(client: httpx.AsyncClient, chat: Chat,
                                                           database_down: None) -> None:
    assert_unavailable(await client.get("/api/v1/spaces/", headers=chat.admin.headers), "database_unavailable")
    r = await client.post("/api/v1/users/login/token/", data={"username": chat.admin.email, "password": PASSWORD})
    assert_unavailable(r, "database_unavailable")


async def test_a_failed_statement_is_not_a_dependency_down(db: object) -> None:
    with pytest.raises(DBAPIError) as timed_out:
        async with UnitOfWork() as uow:
            await uow.session.execute(text("SET LOCAL statement_timeout = 10"))
            await uow.session.execute(text("SELECT pg_sleep(1)"))
    assert unavailable(timed_out.value) is None, "a statement timeout is ours to fix: 500"


async def test_a_queued_record_while_the_database_is_down_is_handed_back_to_the_queue(
        database_down: None, caplog: pytest.LogCaptureFixture) -> None:
    """SQS delivers it again (a batch item failure), and the log says why: not a bug to chase."""
    from eneo.ingestion.handlers import handle_embed_event

    body = json.dumps({"tenant_id": str(uuid.uuid4()), "blob_id": str(uuid.uuid4()),
                       "embedding_model_id": str(uuid.uuid4()), "chunk_ids": [str(uuid.uuid4())]})
    event = {"Records": [{"messageId": "m-1", "receiptHandle": "r-1", "body": body, "eventSource": "aws:sqs",
                          "attributes": {"ApproximateReceiveCount": "3"}}]}
    with caplog.at_level(logging.INFO, logger="eneo.ingestion"):
        assert await handle_embed_event(event) == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    logged = [(r.getMessage(), getattr(r, "code", None)) for r in caplog.records]
    assert ("dependency unavailable; record will be retried", "database_unavailable") in logged, logged
