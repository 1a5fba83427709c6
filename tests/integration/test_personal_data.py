"""Personal data before external providers, through the sessions function, the real retrieval, the real
openai SDK and the fake provider, whose recorded requests show what left the organisation.

The fake answers with placeholders split across tokens, as a model that keeps them does; the asker must
read the real values in the answer (in the response, over SSE and when read again), and the provider
must never see one.
"""

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from eneo.personal_data.masking import contains
from eneo.users.models import UserRole
from tests.fakes.llm_server import FakeLLMServer
from tests.integration import test_sessions
from tests.integration.conftest import Org
from tests.integration.test_answers_knowledge import add_collection, use_collections
from tests.integration.test_sessions import Chat, _json, make_chat, read_sse

SUPER = {"X-API-Key": "test-super-key-0123456789abcdef0123456789"}
PNR, EMAIL, PHONE = "811218-9876", "anna.svensson@example.se", "070-123 45 67"
CASE = "Försörjningsstöd, ärende"
CASE_TEXT = ("Sökande Bo Ek, samordningsnummer 701063-2391, nås på 08-123 456 78. Beslut om försörjningsstöd "
             "fattas inom fyra veckor.")
# A model that keeps the placeholders, each split across tokens.
TOKENS = ["Beslutet skickas till ", "[EMA", "IL_1", "] och ", "[TELE", "FON_1]", " ringer om ",
          "[PERSONNUMMER", "_1]", "."]
streamed = test_sessions.streamed  # an assignment: the tests' parameter of that name uses it
ANSWER = f"Beslutet skickas till {EMAIL} och {PHONE} ringer om {PNR}."
QUESTION = f"Jag heter Anna, personnummer {PNR}. Skicka beslutet till {EMAIL} eller ring {PHONE}."


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(tokens=TOKENS) as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_fake(fake: FakeLLMServer) -> None:
    fake.reset()


@pytest.fixture
async def chat(client: httpx.AsyncClient, make_user: Any, fake: FakeLLMServer) -> Chat:
    admin = await make_user()
    viewer = await make_user(Org(admin.tenant_id, ""), UserRole.user)
    return await make_chat(client, admin, viewer, fake, context_window=8192)


async def set_policy(client: httpx.AsyncClient, chat: Chat, policy: str) -> None:
    body = await _json(await client.patch(f"/api/v1/assistants/{chat.assistant}/", headers=chat.admin.headers,
                                          json={"personal_data": policy}), 200)
    assert body["personal_data"] == policy


def sent_text(fake: FakeLLMServer) -> str:
    """Everything the provider received in its last chat request, as one text."""
    return json.dumps(fake.requests[-1].body, ensure_ascii=False)


def assert_nothing_personal(fake: FakeLLMServer) -> None:
    body = fake.requests[-1].body
    texts = [m["content"] for m in body["messages"]]
    assert not contains(texts), texts
    for value in (PNR, "8112189876", EMAIL, PHONE, "701063-2391", "08-123 456 78"):
        assert value not in sent_text(fake)


async def ask(client: httpx.AsyncClient, chat: Chat, question: str, session: str | None = None) -> dict[str, Any]:
    url = chat.sessions if session is None else f"{chat.sessions}{session}/"
    return await _json(await client.post(url, json={"question": question}, headers=chat.viewer.headers),
                       200 if session else 201)


async def test_an_assistant_that_masks_sends_no_personal_data_and_answers_with_the_real_values(
        client: httpx.AsyncClient, chat: Chat, fake: FakeLLMServer) -> None:
    await set_policy(client, chat, "mask")
    town = await add_collection(chat.admin.tenant_id, chat.space, "Socialtjänst", {CASE: [(CASE_TEXT, 1)]})
    await use_collections(client, chat, town.id)

    first = await ask(client, chat, QUESTION)
    assert first["question"]["answer"] == ANSWER
    assert_nothing_personal(fake)
    messages = fake.requests[-1].body["messages"]
    assert "[PERSONNUMMER_1]" in messages[-1]["content"] and "[EMAIL_1]" in messages[-1]["content"]
    assert "[PERSONNUMMER_2]" in messages[0]["content"]  # the passage's samordningsnummer, in the system message
    assert "Beslut om försörjningsstöd" in messages[0]["content"]  # the rest of the passage is sent as it is
    # The citation the asker gets names the real document.
    assert first["question"]["references"][0]["title"] == CASE

    # A follow-up: the history (the earlier question and its restored answer) is masked the same way.
    follow = await ask(client, chat, f"Gäller det också {PNR.replace('-', '')}?", first["session_id"])
    assert follow["question"]["answer"] == ANSWER
    assert_nothing_personal(fake)
    history = fake.requests[-1].body["messages"]
    assert [m["role"] for m in history[1:]] == ["user", "assistant", "user"]
    assert history[2]["content"] == "Beslutet skickas till [EMAIL_1] och [TELEFON_1] ringer om [PERSONNUMMER_1]."
    assert history[3]["content"] == "Gäller det också [PERSONNUMMER_1]?"  # one person, two spellings

    saved = await _json(await client.get(f"/api/v1/questions/{follow['question']['id']}/",
                                         headers=chat.viewer.headers), 200)
    assert saved["answer"] == ANSWER


async def test_a_streamed_answer_is_restored_across_tokens(client: httpx.AsyncClient, chat: Chat,
                                                           fake: FakeLLMServer, streamed: Any) -> None:
    await set_policy(client, chat, "mask")
    r = await client.post(chat.sessions, json={"question": QUESTION, "stream": True}, headers=chat.viewer.headers)
    qid = (await _json(r, 202))["question"]["id"]
    events = [e async for e in read_sse(client, chat.viewer, qid)]
    await asyncio.gather(*streamed)
    assert events[-1][1] == "done"
    texts = [d["text"] for _, kind, d in events if kind == "text"]
    assert "".join(texts) == ANSWER
    assert not any("[" in t for t in texts)  # no half placeholder ever reached the asker
    assert_nothing_personal(fake)


async def test_the_organisation_opts_in_for_every_assistant(client: httpx.AsyncClient, chat: Chat,
                                                            fake: FakeLLMServer) -> None:
    await ask(client, chat, QUESTION)  # neither opted in: sent as it is (what the masking is measured against)
    assert PNR in sent_text(fake) and EMAIL in sent_text(fake)

    tenant = f"/api/v1/sysadmin/tenants/{chat.admin.tenant_id}/"
    assert (await _json(await client.get(tenant, headers=SUPER), 200))["protect_personal_data"] is False
    body = await _json(await client.patch(tenant, json={"protect_personal_data": True}, headers=SUPER), 200)
    assert body["protect_personal_data"] is True
    asked = await ask(client, chat, QUESTION)
    assert asked["question"]["answer"] == ANSWER
    assert_nothing_personal(fake)


async def test_a_local_provider_gets_the_question_as_it_is(client: httpx.AsyncClient, chat: Chat,
                                                           fake: FakeLLMServer) -> None:
    providers = "/api/v1/admin/model-providers/"
    refused = await client.post(providers, headers=chat.admin.headers, json={
        "name": "Not ours", "type": "openai", "api_key": fake.api_key, "local": True})
    assert refused.status_code == 422 and refused.json()["details"][0]["field"] == "local"
    local = await _json(await client.post(providers, headers=chat.admin.headers, json={
        "name": "Vår vLLM", "type": "openai_compatible", "base_url": fake.openai_url, "api_key": fake.api_key,
        "local": True}), 201)
    assert local["local"] is True
    model = await _json(await client.post("/api/v1/completion-models/", headers=chat.admin.headers, json={
        "provider_id": local["id"], "name": "local-llm", "context_window": 8192}), 201)
    assert model["local"] is True
    await _json(await client.patch(f"/api/v1/assistants/{chat.assistant}/", headers=chat.admin.headers,
                                   json={"completion_model_id": model["id"], "personal_data": "mask"}), 200)
    await ask(client, chat, QUESTION)
    assert PNR in sent_text(fake) and EMAIL in sent_text(fake)  # it stays in the organisation


async def test_questions_with_personal_data_go_to_the_local_model(client: httpx.AsyncClient, chat: Chat,
                                                                  fake: FakeLLMServer) -> None:
    await set_policy(client, chat, "local_model")
    # Without a local model: masked at the external one, never sent as it is.
    await ask(client, chat, QUESTION)
    assert fake.requests[-1].body["model"] == "gpt-fake"
    assert_nothing_personal(fake)

    local = await _json(await client.post("/api/v1/admin/model-providers/", headers=chat.admin.headers, json={
        "name": "Vår Ollama", "type": "openai_compatible", "base_url": fake.openai_url, "api_key": fake.api_key,
        "local": True}), 201)
    await _json(await client.post("/api/v1/completion-models/", headers=chat.admin.headers, json={
        "provider_id": local["id"], "name": "local-llm", "context_window": 4096}), 201)

    asked = await ask(client, chat, QUESTION)
    assert fake.requests[-1].body["model"] == "local-llm"
    assert PNR in sent_text(fake)  # unmasked: it never left the organisation
    assert asked["question"]["model"] == "local-llm"  # the asker is told which model answered

    asked = await ask(client, chat, "Hur lång tid tar ett beslut om försörjningsstöd?")
    assert fake.requests[-1].body["model"] == "gpt-fake"  # nothing personal: the assistant's own model
    assert asked["question"]["model"] == "gpt-fake"


async def test_the_editor_tries_an_unsaved_choice(client: httpx.AsyncClient, chat: Chat, fake: FakeLLMServer) -> None:
    r = await client.post(chat.sessions, headers=chat.admin.headers,
                          json={"question": QUESTION, "draft": {"personal_data": "mask"}})
    assert (await _json(r, 201))["question"]["answer"] == ANSWER
    assert_nothing_personal(fake)
    saved = await _json(await client.get(f"/api/v1/assistants/{chat.assistant}/", headers=chat.admin.headers), 200)
    assert saved["personal_data"] == "tenant"  # nothing saved
    await ask(client, chat, QUESTION)
    assert PNR in sent_text(fake)


async def test_bad_settings_are_refused(client: httpx.AsyncClient, chat: Chat) -> None:
    r = await client.patch(f"/api/v1/assistants/{chat.assistant}/", headers=chat.admin.headers,
                           json={"personal_data": "sometimes"})
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "personal_data"
    r = await client.patch(f"/api/v1/sysadmin/tenants/{uuid.uuid4()}/", json={"protect_personal_data": True},
                           headers=SUPER)
    assert r.status_code == 404
