"""While the deployment's own model server (the local stack's managed provider) is down, a question to it and
its connection test say `local_model_unavailable` and name the server's log, not a generic provider error.

The managed provider is registered as the local stack registers it (`ensure_managed_provider`, with the log
file); the server is the fake provider, or a port nothing listens on for a server that is not running.
"""

import logging
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from eneo.core.db import UnitOfWork
from eneo.model_providers.service import ensure_managed_provider
from tests.fakes.llm_server import FakeLLMServer
from tests.integration.conftest import Member

# A data folder whose name a key-redacting filter would take for a key (20+ letters, digits, - or _).
LOG_FILE = "/srv/eneo-serverless-checkout-0001/.eneo-data/logs/local-model.log"
MODEL = "SmolLM2-135M-Instruct"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(api_key=None, token_count=8, delay=0.02) as server:
        yield server


@pytest.fixture
def retries() -> Iterator[list[str]]:
    """The codes of provider calls eneo.llm retries (its own logger: the functions take over the root's handlers)."""
    seen: list[str] = []

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == "LLM call failed, retrying":
                seen.append(str(getattr(record, "code", "")))

    spy, logger = Spy(logging.WARNING), logging.getLogger("eneo.llm")
    logger.addHandler(spy)
    yield seen
    logger.removeHandler(spy)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def register(admin: Member, base_url: str) -> None:
    async with UnitOfWork(admin.tenant_id) as uow:
        await ensure_managed_provider(uow, name="Local model (llama.cpp)", base_url=base_url, model=MODEL,
                                      display_name="SmolLM2", context_window=2048, log_file=LOG_FILE)


async def local_assistant(client: httpx.AsyncClient, admin: Member) -> str:
    """An assistant of the tenant's default model, which the first registration made the local one."""
    space = (await client.post("/api/v1/spaces/", json={"name": "Local"}, headers=admin.headers)).json()["id"]
    r = await client.post(f"/api/v1/spaces/{space}/applications/assistants/", headers=admin.headers,
                          json={"name": "Local", "model_kwargs": {"max_tokens": 50}})
    assert r.status_code == 201, r.text
    return f"/api/v1/assistants/{r.json()['id']}/sessions/"


async def questions(client: httpx.AsyncClient, admin: Member, sessions: str) -> list[dict[str, Any]]:
    listed = (await client.get(sessions, headers=admin.headers)).json()["items"]
    return [q for s in listed for q in (await client.get(f"{sessions}{s['id']}/", headers=admin.headers)
                                        ).json()["questions"]]


async def test_a_local_model_that_is_down_says_so_and_names_its_log(client: httpx.AsyncClient, make_user,
                                                                   fake: FakeLLMServer,
                                                                   retries: list[str]) -> None:
    admin = await make_user()
    await register(admin, fake.openai_url)
    sessions = await local_assistant(client, admin)
    r = await client.post(sessions, json={"question": "Hej"}, headers=admin.headers)
    assert r.status_code == 201 and r.json()["question"]["status"] == "completed", "it answers while it runs"

    # It dies mid-answer: what arrived is kept, and the error says where to look.
    fake.drop_after(3)
    r = await client.post(sessions, json={"question": "Hej igen"}, headers=admin.headers)
    assert (r.status_code, r.json()["code"]) == (502, "local_model_unavailable"), r.text
    assert LOG_FILE in r.json()["message"]
    saved = [q for q in await questions(client, admin, sessions) if q["question"] == "Hej igen"]
    assert [(q["status"], q["partial"], q["error"]["code"]) for q in saved] == [
        ("failed", True, "local_model_unavailable")]

    # Not running (restarting, or given up): the same code, for a question and for the connection test.
    # Not retried: a restart takes seconds, longer than retries wait.
    await register(admin, f"http://127.0.0.1:{closed_port()}/v1")
    retries.clear()
    r = await client.post(sessions, json={"question": "Är du där?"}, headers=admin.headers)
    assert (r.status_code, r.json()["code"]) == (502, "local_model_unavailable"), r.text
    assert LOG_FILE in r.json()["message"] and "not running" in r.json()["message"]
    assert retries == []
    providers = (await client.get("/api/v1/admin/model-providers/", headers=admin.headers)).json()["items"]
    managed = next(p for p in providers if p["managed"])
    r = await client.post(f"/api/v1/admin/model-providers/{managed['id']}/test/", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["ok"], r.json()["code"]) == (False, "local_model_unavailable")
    assert LOG_FILE in r.json()["message"]

