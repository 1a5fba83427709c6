"""A WebSocket connected with an assistant-scoped API key gets no status events (issue 11, item 9).

Status events (`subscribe_events`) carry the user's documents from every space; REST refuses such a key
everything but its assistant, and so does the WebSocket. The ws function's handler runs in-process on real
Postgres and Redis; `@connections` is a small HTTP server that records the frames posted to it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from eneo.core.settings import get_settings
from tests.integration.test_assistants import Team, create, team  # noqa: F401 - `team` is a fixture


class FakeConnections(ThreadingHTTPServer):
    """`POST /@connections/{id}` answers 200 and keeps the frame."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server names it
                outer.frames.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:  # the test output stays readable
                return

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def frames(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    server = FakeConnections()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("WEBSOCKET_MANAGEMENT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local")
    get_settings.cache_clear()
    try:
        yield server.frames
    finally:
        server.shutdown()
        monkeypatch.undo()
        get_settings.cache_clear()


class LambdaContext:
    """What a handler reads of Lambda's context: little time left, so a relay that starts ends soon."""

    function_name = "t-ws"

    def get_remaining_time_in_millis(self) -> int:
        return 1500


def ws_event(route: str, connection_id: str, **extra: Any) -> dict[str, Any]:
    return {"requestContext": {"routeKey": route, "connectionId": connection_id, "eventType": "MESSAGE",
                               "domainName": "ws.test", "stage": "live"}, **extra}


async def test_an_assistant_scoped_key_cannot_subscribe_to_status_events(
        client: httpx.AsyncClient, team: Team, frames: list[dict[str, Any]]) -> None:  # noqa: F811
    from eneo.realtime.handler import handle

    assistant = await create(client, team, published=True)
    r = await client.post("/api/v1/api-keys/", headers=team.viewer.headers,
                          json={"name": "bot", "scope": "assistant", "assistant_id": assistant["id"]})
    assert r.status_code == 201, r.text
    connected = await handle(ws_event("$connect", "c-key", queryStringParameters={"api_key": r.json()["key"]}),
                           LambdaContext())
    assert connected["statusCode"] == 200, connected

    body = json.dumps({"action": "subscribe_events", "last_id": "0-0"})
    assert (await handle(ws_event("subscribe_events", "c-key", body=body), LambdaContext()))["statusCode"] == 200
    assert [(f["type"], f.get("code"), f.get("stream")) for f in frames] == [("error", "api_key_scope", "events")]
    assert "assistant" in frames[0]["message"]
