"""Logout ends the WebSockets opened with that session (issue 11, item 7): the real ws handler in-process on
real Postgres and Redis, `@connections` a recording server (test_ws_key_scope), the answer from a slow fake model.

Before: a socket opened with a token kept receiving the answer's frames after its session was logged out.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from eneo.answers.service import answer_question
from eneo.sessions.api import get_invoker
from eneo.users.models import UserRole
from tests.fakes.llm_server import FakeLLMServer
from tests.integration.conftest import FunctionApps, Org
from tests.integration.test_sessions import Chat, _json, make_chat
from tests.integration.test_ws_key_scope import frames, ws_event  # noqa: F401 - `frames` is a fixture


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(token_count=80, delay=0.05) as server:
        yield server


@pytest.fixture
async def chat(client: httpx.AsyncClient, make_user: Any, fake: FakeLLMServer) -> Chat:
    fake.reset()
    admin = await make_user()
    return await make_chat(client, admin, await make_user(Org(admin.tenant_id, ""), UserRole.user), fake)


class Context:
    function_name = "t-ws"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


async def test_after_logout_the_old_socket_gets_no_more_frames_and_the_token_cannot_reconnect(
        client: httpx.AsyncClient, chat: Chat, function_apps: FunctionApps,
        frames: list[dict[str, Any]]) -> None:  # noqa: F811
    from eneo.realtime.handler import handle

    answers: list[asyncio.Task[bool]] = []
    function_apps["SessionsFunction"].dependency_overrides[get_invoker] = lambda: lambda tenant, question: (
        answers.append(asyncio.get_running_loop().create_task(answer_question(tenant, question))))
    token = chat.admin.headers["Authorization"].split(" ", 1)[1]
    connection = f"c-{uuid.uuid4().hex[:8]}"
    connected = await handle(ws_event("$connect", connection, queryStringParameters={"token": token}), Context())
    assert connected["statusCode"] == 200, connected

    asked = await _json(await client.post(chat.sessions, json={"question": "Långt svar", "stream": True},
                                          headers=chat.admin.headers), 202)
    subscribe = json.dumps({"action": "subscribe", "question_id": asked["question"]["id"]})
    relay = asyncio.create_task(handle(ws_event("subscribe", connection, body=subscribe), Context()))
    give_up = time.monotonic() + 10
    while sum(f.get("type") == "text" for f in frames) < 5 and time.monotonic() < give_up:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    assert sum(f.get("type") == "text" for f in frames) >= 5, frames

    logged_out_at = time.monotonic()
    assert (await client.post("/api/v1/users/logout/", headers=chat.admin.headers)).status_code == 204
    await asyncio.wait_for(relay, 5)  # the relay ends although the answer goes on
    ended_after = time.monotonic() - logged_out_at
    print(f"logout -> relay ended {ended_after:.3f} s")
    assert ended_after < 2.0
    assert frames[-1]["type"] == "error" and frames[-1]["code"] == "session_ended", frames[-3:]
    assert not answers[0].done(), "the answer was still streaming: the relay stopped, not the answer"
    seen = len(frames)
    await asyncio.sleep(0.5)
    assert len(frames) == seen, "no frame reaches the logged-out socket"

    # Subscribing again on the old connection is refused, and so is a new connection with the old token.
    await handle(ws_event("subscribe", connection, body=subscribe), Context())
    assert (frames[-1]["type"], frames[-1]["code"]) == ("error", "session_ended")
    assert "id" not in frames[-1], "a refusal, not a stream entry"
    again = await handle(ws_event("$connect", f"c-{uuid.uuid4().hex[:8]}", queryStringParameters={"token": token}),
                         Context())
    assert again["statusCode"] == 401
    await asyncio.wait_for(answers[0], 15)
