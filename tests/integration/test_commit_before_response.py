"""A request's unit of work commits before its response: a commit that fails is the client's 500, never a
success for a change that was not saved.

The commit is made to fail with a constraint trigger that Postgres runs only at COMMIT (DEFERRABLE
INITIALLY DEFERRED), created for this test's tenant alone and dropped afterwards.
"""

from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from eneo.answers.stream import stream_key
from eneo.core.redis import get_redis
from eneo_local.services import Endpoints
from tests.fakes.llm_server import FakeLLMServer
from tests.integration.conftest import Member, Org
from tests.integration.test_sessions import Chat, make_chat

TABLES = ("sessions", "questions")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(token_count=3) as server:
        yield server


def _owner(db: Endpoints) -> psycopg.Connection[Any]:
    return psycopg.connect(db.database_migration_url.replace("postgresql+psycopg://", "postgresql://"),
                           autocommit=True)


@pytest.fixture
def failing_commits(db: Endpoints) -> Iterator[Any]:
    """`fail(tenant_id)`: from then on, every commit that changed a session or question of that tenant fails."""
    created: list[str] = []

    def fail(tenant_id: object) -> None:
        name = f"fail_at_commit_{str(tenant_id).replace('-', '')}"
        with _owner(db) as conn:
            conn.execute(f"""
                CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF (CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END) = '{tenant_id}' THEN
                        RAISE EXCEPTION 'the commit failed (test)';
                    END IF;
                    RETURN NULL;
                END $$""")
            for table in TABLES:
                conn.execute(f"CREATE CONSTRAINT TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE ON {table} "
                             f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION {name}()")
        created.append(name)

    yield fail
    with _owner(db) as conn:
        for name in created:
            for table in TABLES:
                conn.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            conn.execute(f"DROP FUNCTION IF EXISTS {name}()")


@pytest.fixture
async def asked(client: httpx.AsyncClient, make_user: Any, fake: FakeLLMServer) -> tuple[Chat, dict[str, Any]]:
    admin: Member = await make_user()
    chat = await make_chat(client, admin, await make_user(Org(admin.tenant_id, "")), fake)
    r = await client.post(chat.sessions, json={"question": "Hej?"}, headers=admin.headers)
    assert r.status_code == 201, r.text
    return chat, r.json()


def _internal_error(r: httpx.Response) -> None:
    assert r.status_code == 500, f"{r.status_code}: the change was not saved, yet the client was told it was"
    body = r.json()
    assert body["code"] == "internal_error" and body["request_id"] == r.headers["x-request-id"]


async def test_a_204_route_answers_500_when_its_commit_fails(client: httpx.AsyncClient, failing_commits: Any,
                                                            asked: tuple[Chat, dict[str, Any]]) -> None:
    chat, answer = asked
    session = f"{chat.sessions}{answer['session_id']}/"
    failing_commits(chat.admin.tenant_id)
    _internal_error(await client.delete(session, headers=chat.admin.headers))
    r = await client.get(session, headers=chat.admin.headers)
    assert r.status_code == 200, "the delete was rolled back: the session is still there"
    assert await get_redis().exists(stream_key(answer["question"]["id"])), "and so is its answer's stream"


async def test_a_200_route_answers_500_when_its_commit_fails(client: httpx.AsyncClient, failing_commits: Any,
                                                            asked: tuple[Chat, dict[str, Any]]) -> None:
    chat, answer = asked
    session = f"{chat.sessions}{answer['session_id']}/"
    failing_commits(chat.admin.tenant_id)
    _internal_error(await client.post(f"{session}feedback/", headers=chat.admin.headers,
                                      json={"question_id": answer["question"]["id"], "value": 1}))
    saved = (await client.get(session, headers=chat.admin.headers)).json()
    assert saved["questions"][0]["feedback"] is None
