"""Requests an outside probe turned into 500s or over-broad grants (issue 11, items 2 and 9).

- A NUL in a search query reached Postgres (DataError): 422 naming the field.
- A PATCH that read a user or a space which a concurrent DELETE then removed failed its UPDATE
  (StaleDataError): 404 in the error shape, as the same PATCH sent a moment later gets.
- An assistant-scoped API key could name any assistant id, another tenant's or none at all: 404 unless the
  key's owner may use that assistant.
"""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import text

from eneo.core.db import UnitOfWork
from tests.integration.conftest import Member
from tests.integration.test_assistants import Team, create, team  # noqa: F401 - `team` is a fixture

KEYS = "/api/v1/api-keys/"
SHARE_LOCK = {table: text(f"SELECT 1 FROM {table} WHERE id = :id FOR SHARE") for table in ("spaces", "users")}  # noqa: S608


async def test_a_nul_in_a_search_query_is_a_422_naming_the_field(client: httpx.AsyncClient, make_user) -> None:
    owner = await make_user()
    space = (await client.post("/api/v1/spaces/", json={"name": "s"}, headers=owner.headers)).json()["id"]
    r = await client.post(f"/api/v1/spaces/{space}/knowledge/groups/", json={"name": "Regler"}, headers=owner.headers)
    assert r.status_code == 201, r.text
    group = r.json()["id"]
    for query in ("dog\\u0000", "\\u0000", "leash \\ud800"):  # as JSON escapes: what a client sends
        r = await client.post(f"/api/v1/groups/{group}/searches/", content=f'{{"query": "{query}"}}',
                              headers={**owner.headers, "Content-Type": "application/json"})
        assert (r.status_code, r.json()["code"], r.json()["details"][0]["field"]) == (422, "validation_error", "query")


async def _waiting_for_locks(count: int) -> None:
    """Until `count` statements of this database wait for a row lock (the requests under test block)."""
    deadline = time.monotonic() + 15
    while True:
        async with UnitOfWork() as uow:
            waiting = await uow.session.scalar(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"))
        if (waiting or 0) >= count:
            return
        assert time.monotonic() < deadline, f"{waiting} of {count} statements waiting for a lock"
        await asyncio.sleep(0.05)


async def _delete_then_patch(tenant_id: uuid.UUID, table: str, row_id: str, delete: Callable[[], Awaitable[Any]],
                             patch: Callable[[], Awaitable[httpx.Response]]) -> tuple[Any, httpx.Response]:
    """The DELETE request deletes the row after the PATCH request has read it and before its UPDATE runs.

    A share lock held here stops both at the row: the DELETE queues first, the PATCH (which has read the row
    by then) queues behind it; when the lock goes, Postgres hands the row to the DELETE, which commits, and the
    PATCH's UPDATE then finds no row.
    """
    async with UnitOfWork(tenant_id) as holder:
        await holder.session.execute(SHARE_LOCK[table], {"id": row_id})
        deleting = asyncio.create_task(delete())
        await _waiting_for_locks(1)
        patching = asyncio.create_task(patch())
        await _waiting_for_locks(2)
    return await deleting, await patching


async def test_patching_a_space_that_a_concurrent_delete_removes_is_a_404(client: httpx.AsyncClient,
                                                                           make_user) -> None:
    owner = await make_user()
    space = (await client.post("/api/v1/spaces/", json={"name": "Tillfällig"}, headers=owner.headers)).json()["id"]
    deleted, patched = await _delete_then_patch(
        owner.tenant_id, "spaces", space,
        lambda: client.delete(f"/api/v1/spaces/{space}/", headers=owner.headers),
        lambda: client.patch(f"/api/v1/spaces/{space}/", json={"name": "Ny"}, headers=owner.headers))
    assert deleted.status_code == 204, deleted.text
    assert (patched.status_code, patched.json()["code"]) == (404, "not_found"), patched.text
    assert patched.json()["request_id"] == patched.headers["x-request-id"]
    assert (await client.get(f"/api/v1/spaces/{space}/", headers=owner.headers)).status_code == 404


async def test_patching_a_user_that_a_concurrent_delete_removes_is_a_404(client: httpx.AsyncClient,
                                                                          make_user) -> None:
    admin = await make_user()
    r = await client.post("/api/v1/users/", headers=admin.headers, json={
        "email": f"tmp-{uuid.uuid4().hex[:8]}@example.org", "name": "Tillfällig", "password": "a long passphrase 42"})
    assert r.status_code == 201, r.text
    user = r.json()["id"]
    deleted, patched = await _delete_then_patch(
        admin.tenant_id, "users", user,
        lambda: client.delete(f"/api/v1/users/{user}/", headers=admin.headers),
        lambda: client.patch(f"/api/v1/users/{user}/", json={"name": "Ny"}, headers=admin.headers))
    assert deleted.status_code == 204, deleted.text
    assert (patched.status_code, patched.json()["code"]) == (404, "not_found"), patched.text
    assert (await client.get(f"/api/v1/users/{user}/", headers=admin.headers)).status_code == 404


async def test_an_assistant_key_names_an_assistant_its_owner_may_use(client: httpx.AsyncClient, team: Team,  # noqa: F811
                                                                       make_user) -> None:
    draft = await create(client, team, name="Utkast")  # unpublished: editors see it, viewers do not
    live = await create(client, team, name="Publicerad", published=True)
    stranger = await make_user()  # another tenant
    theirs = (await client.post("/api/v1/spaces/", json={"name": "x"}, headers=stranger.headers)).json()["id"]

    def key(who: Member, assistant: str) -> Awaitable[httpx.Response]:
        return client.post(KEYS, headers=who.headers, json={"name": "bot", "scope": "assistant",
                                                            "assistant_id": assistant})

    refused = [(team.viewer, draft["id"]), (team.outsider, live["id"]), (stranger, live["id"]),
               (team.editor, str(uuid.uuid4())), (team.editor, theirs)]  # theirs: a space's id, not an assistant
    for who, assistant in refused:
        r = await key(who, assistant)
        assert (r.status_code, r.json()["code"]) == (404, "not_found"), (who.email, r.text)
    for who, assistant in ((team.viewer, live["id"]), (team.editor, draft["id"])):
        r = await key(who, assistant)
        assert r.status_code == 201 and r.json()["assistant_id"] == assistant, r.text
    assert (await client.get(KEYS, headers=stranger.headers)).json()["items"] == []


async def test_one_unknown_id_given_for_two_parameters_is_a_404_not_a_refused_route(client: httpx.AsyncClient,
                                                                                   make_user) -> None:
    admin = await make_user()
    same = str(uuid.uuid4())
    r = await client.delete(f"/api/v1/user-groups/{same}/members/{same}/", headers=admin.headers)
    assert (r.status_code, r.json()["code"]) == (404, "not_found"), r.text
    r = await client.get("/api/v1/users/api/", headers=admin.headers)  # a value equal to a fixed segment
    assert (r.status_code, r.json()["code"]) == (422, "validation_error"), r.text
