"""Assistants with knowledge: they answer from their collections' chunks and cite them.

Collections, documents and chunks are written directly (with vectors from the real local embedder),
so these tests do not depend on ingestion; the question goes through the sessions function, the
real retrieval (eneo.retrieval) and the real openai SDK against the fake provider, whose recorded
request shows exactly what the model was sent.
"""

import asyncio
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from eneo.answers.context import CITE_INSTRUCTION, CORE_SOURCES, HEADROOM, Source, Turn, build_prompt
from eneo.assistants.models import AssistantGroup
from eneo.core.db import UnitOfWork
from eneo.embeddings import local_embedder
from eneo.llm import estimate_tokens
from eneo.model_providers.models import EmbeddingModel
from eneo.sessions.models import Question
from eneo.users.models import UserRole
from tests.fakes.llm_server import FakeLLMServer
from tests.fixtures.corpus.seed import add_document, create_group, local_model
from tests.integration.conftest import Org
from tests.integration.test_sessions import Chat, _json, make_chat, read_sse

PERMITS = "Building permits"
PERMIT_TIME = ("A building permit application is decided within ten weeks of the day the application is "
               "complete. The municipality can extend the time by another ten weeks once.")
PERMIT_NEED = "You need a building permit to build a new house, to extend a house, or to change what it is used for."
PARKING = "Parking rules"
PARKING_TEXT = "Parking on municipal streets is free on Sundays. Residents can buy a parking permit for their district."
SECRET = "Salary budget 2027"
SECRET_TEXT = "The salary budget for 2027 raises every employee's salary by exactly four percent from April."


@pytest.fixture(scope="module")
def fake() -> Any:
    with FakeLLMServer(token_count=8) as server:
        yield server


@pytest.fixture(autouse=True)
def fresh_fake(fake: FakeLLMServer) -> None:
    fake.reset()


@dataclass
class Collection:
    id: uuid.UUID
    blobs: dict[str, uuid.UUID] = field(default_factory=dict)  # title -> info blob id


async def add_collection(tenant_id: uuid.UUID, space_id: str | uuid.UUID, name: str,
                         docs: Mapping[str, Sequence[tuple[str, int | None]]], model: EmbeddingModel | None = None,
                         vectors: list[list[float]] | None = None) -> Collection:
    """A collection with ready documents whose chunks carry the local embedder's vectors (or `vectors`)."""
    texts = [text for chunks in docs.values() for text, _ in chunks]
    vectors = vectors or await local_embedder().embed(texts)
    async with UnitOfWork(tenant_id) as uow:
        model_id = model.id if model else await local_model(uow.session, tenant_id)
        made = Collection(await create_group(uow.session, tenant_id, uuid.UUID(str(space_id)), model_id, name=name))
        at = 0
        for title, chunks in docs.items():
            made.blobs[title], _ = await add_document(
                uow.session, tenant_id=tenant_id, group_id=made.id, model_id=model_id, title=title,
                passages=[text for text, _ in chunks], vectors=vectors[at:at + len(chunks)],
                pages=[page for _, page in chunks])
            at += len(chunks)
        await uow.commit()
    return made


async def use_collections(client: httpx.AsyncClient, chat: Chat, *groups: uuid.UUID) -> dict[str, Any]:
    return await _json(await client.patch(f"/api/v1/assistants/{chat.assistant}/", headers=chat.admin.headers,
                                          json={"groups": [str(g) for g in groups]}), 200)


@pytest.fixture
async def chat(client: httpx.AsyncClient, make_user, fake: FakeLLMServer) -> Chat:
    admin = await make_user()
    viewer = await make_user(Org(admin.tenant_id, ""), UserRole.user)
    return await make_chat(client, admin, viewer, fake, context_window=8192)


@pytest.fixture
async def town(client: httpx.AsyncClient, chat: Chat) -> Collection:
    """The assistant's knowledge: two documents of its own space."""
    made = await add_collection(chat.admin.tenant_id, chat.space, "Town hall", {
        PERMITS: [(PERMIT_NEED, 1), (PERMIT_TIME, 2)],
        PARKING: [(PARKING_TEXT, None)],
    })
    await use_collections(client, chat, made.id)
    return made


def system_of(fake: FakeLLMServer) -> str:
    messages = fake.requests[-1].body["messages"]
    assert messages[0]["role"] == "system"
    return str(messages[0]["content"])


async def test_the_model_is_sent_the_right_chunk_and_asked_to_cite(client: httpx.AsyncClient, chat: Chat,
                                                                   town: Collection, fake: FakeLLMServer) -> None:
    asked = await _json(await client.post(chat.sessions, headers=chat.viewer.headers,
                                          json={"question": "How long does it take to get a building permit?"}), 201)
    system = system_of(fake)
    assert system.startswith("Du svarar kort.") and CITE_INSTRUCTION in system
    assert f"[1] {PERMITS} (p. 2): {PERMIT_TIME}" in system, system  # the best chunk is source 1
    references = asked["question"]["references"]
    assert references[0] == {"id": str(town.blobs[PERMITS]), "title": PERMITS, "chunk_index": 1, "page": 2,
                             "score": references[0]["score"], "n": 1, "url": None}
    assert [r["n"] for r in references] == list(range(1, len(references) + 1))
    assert references[0]["score"] >= max(r["score"] for r in references[1:])

    session = await _json(await client.get(f"{chat.sessions}{asked['session_id']}/", headers=chat.viewer.headers),
                          200)
    assert session["questions"][0]["references"] == references
    async with UnitOfWork(chat.admin.tenant_id) as uow:
        stored = await uow.session.scalar(select(Question.references).where(
            Question.id == uuid.UUID(asked["question"]["id"])))
    assert stored == references


async def test_the_first_chunk_of_a_streamed_answer_carries_the_references(
        client: httpx.AsyncClient, chat: Chat, town: Collection, streamed: list[asyncio.Task[bool]]) -> None:
    asked = await _json(await client.post(chat.sessions, headers=chat.viewer.headers, json={
        "question": "Is parking free on Sundays?", "stream": True}), 202)
    await asyncio.gather(*streamed)
    events = [(kind, data) async for _, kind, data in read_sse(client, chat.viewer, asked["question"]["id"])]
    assert events[0][0] == "first_chunk" and events[-1][0] == "done"
    references = events[0][1]["references"]
    assert references[0]["id"] == str(town.blobs[PARKING]) and references[0]["title"] == PARKING
    saved = await _json(await client.get(f"/api/v1/questions/{asked['question']['id']}/",
                                         headers=chat.viewer.headers), 200)
    assert saved["references"] == references


async def test_a_follow_up_is_searched_with_the_question_it_follows(client: httpx.AsyncClient, chat: Chat,
                                                                   town: Collection, fake: FakeLLMServer) -> None:
    first = await _json(await client.post(chat.sessions, headers=chat.viewer.headers,
                                          json={"question": "Tell me about building permits and their processing"}),
                        201)
    follow = await _json(await client.post(f"{chat.sessions}{first['session_id']}/", headers=chat.viewer.headers,
                                           json={"question": "How many weeks?"}), 200)
    assert follow["question"]["references"][0]["id"] == str(town.blobs[PERMITS])
    assert PERMIT_TIME in system_of(fake)


async def test_an_assistant_without_knowledge_is_sent_its_prompt_only(client: httpx.AsyncClient, chat: Chat,
                                                                      fake: FakeLLMServer) -> None:
    await add_collection(chat.admin.tenant_id, chat.space, "Unused", {PERMITS: [(PERMIT_TIME, 1)]})
    asked = await _json(await client.post(chat.sessions, headers=chat.viewer.headers,
                                          json={"question": "How long does a building permit take?"}), 201)
    assert system_of(fake) == "Du svarar kort."
    assert asked["question"]["references"] == []


async def test_knowledge_can_be_removed_again(client: httpx.AsyncClient, chat: Chat, town: Collection,
                                              fake: FakeLLMServer) -> None:
    assert (await use_collections(client, chat))["groups"] == []
    asked = await _json(await client.post(chat.sessions, headers=chat.viewer.headers,
                                          json={"question": "How long does a building permit take?"}), 201)
    assert system_of(fake) == "Du svarar kort." and asked["question"]["references"] == []


async def test_a_collection_the_asker_cannot_read_never_reaches_the_prompt(
        client: httpx.AsyncClient, chat: Chat, town: Collection, fake: FakeLLMServer) -> None:
    """Linked behind the API's back (the API refuses it): retrieval still reads only what the asker may."""
    board = await _json(await client.post("/api/v1/spaces/", json={"name": "Board"}, headers=chat.admin.headers), 201)
    secret = await add_collection(chat.admin.tenant_id, board["id"], "Board papers", {SECRET: [(SECRET_TEXT, 1)]})
    async with UnitOfWork(chat.admin.tenant_id) as uow:
        uow.session.add(AssistantGroup(assistant_id=uuid.UUID(chat.assistant), group_id=secret.id,
                                       tenant_id=chat.admin.tenant_id))
        await uow.commit()
    question = {"question": "By how many percent does the 2027 salary budget raise salaries?"}
    asked = await _json(await client.post(chat.sessions, headers=chat.viewer.headers, json=question), 201)
    assert "four percent" not in system_of(fake) and SECRET not in system_of(fake)
    assert str(secret.blobs[SECRET]) not in {r["id"] for r in asked["question"]["references"]}
    # The board's member asking the same gets it: the asker's rights kept it out, not its rank.
    asked = await _json(await client.post(chat.sessions, headers=chat.admin.headers, json=question), 201)
    assert SECRET_TEXT in system_of(fake)
    assert asked["question"]["references"][0]["id"] == str(secret.blobs[SECRET])


async def test_someone_removed_from_the_space_after_asking_gets_no_chunks(
        client: httpx.AsyncClient, chat: Chat, town: Collection, fake: FakeLLMServer, function_apps: Any) -> None:
    """The rights checked are those at answer time, not those when the question was queued."""
    held: list[tuple[uuid.UUID, uuid.UUID]] = []
    from eneo.sessions.api import get_invoker

    function_apps["SessionsFunction"].dependency_overrides[get_invoker] = lambda: lambda t, q: held.append((t, q))
    asked = await _json(await client.post(chat.sessions, headers=chat.viewer.headers, json={
        "question": "How long does it take to get a building permit?", "stream": True}), 202)
    r = await client.delete(f"/api/v1/spaces/{chat.space}/members/{chat.viewer.id}/", headers=chat.admin.headers)
    assert r.status_code == 204, r.text
    from eneo.answers.service import answer_question

    await answer_question(*held[0])
    assert PERMIT_TIME not in system_of(fake) and PERMIT_NEED not in system_of(fake)
    async with UnitOfWork(chat.admin.tenant_id) as uow:
        stored = await uow.session.scalar(select(Question.references).where(
            Question.id == uuid.UUID(asked["question"]["id"])))
    assert stored == []


async def test_an_assistant_key_answers_from_its_assistants_knowledge(client: httpx.AsyncClient, chat: Chat,
                                                                      town: Collection, fake: FakeLLMServer) -> None:
    key = await _json(await client.post("/api/v1/api-keys/", headers=chat.admin.headers, json={
        "name": "bot", "scope": "assistant", "assistant_id": chat.assistant}), 201)
    asked = await _json(await client.post(chat.sessions, headers={"X-API-Key": key["key"]},
                                          json={"question": "Do I need a permit to extend my house?"}), 201)
    assert asked["question"]["references"][0]["id"] == str(town.blobs[PERMITS])
    assert PERMIT_NEED in system_of(fake)


async def test_a_small_context_window_drops_sources_instead_of_failing(client: httpx.AsyncClient, make_user,
                                                                       fake: FakeLLMServer) -> None:
    admin = await make_user()
    viewer = await make_user(Org(admin.tenant_id, ""), UserRole.user)
    docs = {f"Rule {i}": [(f"Rule {i} about building permits: " + "the applicant must submit drawings " * 8, i)]
            for i in range(8)}
    counts = {}
    for window in (8192, 700):
        chat = await make_chat(client, admin, viewer, fake, context_window=window)
        made = await add_collection(admin.tenant_id, chat.space, "Rules", docs)
        await use_collections(client, chat, made.id)
        asked = await _json(await client.post(chat.sessions, headers=viewer.headers,
                                              json={"question": "What must a building permit applicant submit?"}),
                            201)
        assert asked["question"]["status"] == "completed"
        counts[window] = len(asked["question"]["references"])
        sent = fake.requests[-1].body
        prompt = sum(estimate_tokens(m["content"]) for m in sent["messages"]) * HEADROOM
        assert prompt + sent["max_completion_tokens"] <= window
        system = system_of(fake)
        assert all(f"[{n}] " in system for n in range(1, counts[window] + 1))
        assert f"[{counts[window] + 1}] " not in system
    assert counts[8192] == 8
    assert 1 <= counts[700] < 8, counts


def test_sources_beyond_the_best_go_before_history_and_the_best_go_last() -> None:
    """Shrinking the window: first the lower-ranked sources go, then older turns, then the best sources."""
    sources = [Source(uuid.uuid4(), f"Doc {i}", i, i, f"Source text {i} " + "word " * 40, 1 - i / 10)
               for i in range(8)]
    history = [Turn(f"question {i} " + "word " * 20, f"answer {i} " + "word " * 20) for i in range(5)]

    def fit(window: int, sources: list[Source], history: list[Turn]) -> tuple[list[Source], int]:
        prompt = build_prompt(model="m", system="Be brief.", history=history, question="What now?",
                              context_window=window, model_kwargs={"max_tokens": 50}, reserve_default=100,
                              sources=sources)
        assert [r["n"] for r in prompt.references()] == list(range(1, len(prompt.sources) + 1))
        return prompt.sources, (len(prompt.request.messages) - 1) // 2

    seen = set()
    for window in range(3000, 150, -10):
        kept, turns = fit(window, sources, history)
        assert kept == sources[:len(kept)], "a lower-ranked source never displaces a better one"
        assert turns == fit(window, sources[:CORE_SOURCES], history)[1], "sources beyond the best cost no turn"
        best = min(len(kept), CORE_SOURCES)
        assert best == min(len(fit(window, sources, [])[0]), CORE_SOURCES), "history costs none of the best"
        seen.add((len(kept), turns))
    assert {(8, 5), (CORE_SOURCES, 5), (CORE_SOURCES, 0), (0, 0)} <= seen, seen


async def remote_collection(client: httpx.AsyncClient, chat: Chat, name: str, base_url: str) -> None:
    """The assistant's only collection, embedded by a model at `base_url` (4 dimensions)."""
    provider = await _json(await client.post("/api/v1/admin/model-providers/", headers=chat.admin.headers, json={
        "name": name, "type": "openai_compatible", "base_url": base_url}), 201)
    async with UnitOfWork(chat.admin.tenant_id) as uow:
        model = EmbeddingModel(tenant_id=chat.admin.tenant_id, provider_id=uuid.UUID(provider["id"]),
                               name=f"emb-{name}", dimensions=4, max_input_tokens=512, enabled=True,
                               is_default=False, managed=False)
        uow.session.add(model)
        await uow.commit()
    made = await add_collection(chat.admin.tenant_id, chat.space, name, {PERMITS: [(PERMIT_TIME, 1)]},
                                model=model, vectors=[[0.5, 0.5, 0.5, 0.5]])
    await use_collections(client, chat, made.id)


async def test_an_unreachable_embedding_model_fails_the_answer_with_a_reason(
        client: httpx.AsyncClient, chat: Chat, fake: FakeLLMServer) -> None:
    await remote_collection(client, chat, "down", "http://127.0.0.1:1/v1")
    started = time.monotonic()
    r = await client.post(chat.sessions, headers=chat.viewer.headers, json={"question": "How long for a permit?"})
    assert time.monotonic() - started < 40
    assert r.status_code == 502 and r.json()["code"] == "retrieval_failed", r.text
    assert "knowledge" in r.json()["message"]
    assert fake.requests == []  # the model was never asked without its sources
    session = await _json(await client.get(chat.sessions, headers=chat.viewer.headers), 200)
    detail = await _json(await client.get(f"{chat.sessions}{session['items'][0]['id']}/",
                                          headers=chat.viewer.headers), 200)
    assert detail["questions"][0]["status"] == "failed"
    assert detail["questions"][0]["error"]["code"] == "retrieval_failed"


async def test_an_embedding_server_that_never_answers_fails_the_answer_in_bounded_time(
        client: httpx.AsyncClient, chat: Chat, fake: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import eneo.answers.knowledge

    monkeypatch.setattr(eneo.answers.knowledge, "RETRIEVAL_TIMEOUT", 2.0)
    accepted: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # reads nothing, answers nothing

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await remote_collection(client, chat, "silent", f"http://127.0.0.1:{port}/v1")
        started = time.monotonic()
        r = await client.post(chat.sessions, headers=chat.viewer.headers, json={"question": "How long for a permit?"})
        assert time.monotonic() - started < 10
        assert r.status_code == 502 and r.json()["code"] == "retrieval_failed", r.text
        assert "took longer" in r.json()["message"] and accepted, "the embedder was called"
        assert fake.requests == []
    finally:
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


# --- groups on assistants ------------------------------------------------------------------------


async def test_groups_are_set_listed_and_replaced(client: httpx.AsyncClient, chat: Chat) -> None:
    a = await add_collection(chat.admin.tenant_id, chat.space, "Beta", {PARKING: [(PARKING_TEXT, None)]})
    b = await add_collection(chat.admin.tenant_id, chat.space, "Alpha", {PERMITS: [(PERMIT_TIME, 1)]})
    made = await _json(await client.post(f"/api/v1/spaces/{chat.space}/applications/assistants/",
                                         headers=chat.admin.headers,
                                         json={"name": "Kunnig", "completion_model_id": chat.model,
                                               "groups": [str(a.id), str(b.id), str(a.id)]}), 201)
    assert made["groups"] == [{"id": str(b.id), "name": "Alpha"}, {"id": str(a.id), "name": "Beta"}]
    got = await _json(await client.get(f"/api/v1/assistants/{made['id']}/", headers=chat.admin.headers), 200)
    assert got["groups"] == made["groups"]
    listed = await _json(await client.get(f"/api/v1/spaces/{chat.space}/applications/assistants/",
                                          headers=chat.admin.headers), 200)
    assert {x["id"]: x["groups"] for x in listed["items"]}[made["id"]] == made["groups"]
    patched = await _json(await client.patch(f"/api/v1/assistants/{made['id']}/", headers=chat.admin.headers,
                                             json={"groups": [str(a.id)]}), 200)
    assert patched["groups"] == [{"id": str(a.id), "name": "Beta"}]
    renamed = await _json(await client.patch(f"/api/v1/assistants/{made['id']}/", headers=chat.admin.headers,
                                             json={"name": "Kunnigare"}), 200)
    assert renamed["groups"] == patched["groups"]  # not named in the PATCH: unchanged


async def test_a_collection_of_another_space_is_refused_by_name(client: httpx.AsyncClient, chat: Chat) -> None:
    other = await _json(await client.post("/api/v1/spaces/", json={"name": "Other"}, headers=chat.admin.headers), 201)
    theirs = await add_collection(chat.admin.tenant_id, other["id"], "Elsewhere", {PARKING: [(PARKING_TEXT, None)]})
    for method, path in (("POST", f"/api/v1/spaces/{chat.space}/applications/assistants/"),
                         ("PATCH", f"/api/v1/assistants/{chat.assistant}/")):
        r = await client.request(method, path, headers=chat.admin.headers,
                                 json={"name": "x", "completion_model_id": chat.model, "groups": [str(theirs.id)]})
        assert (r.status_code, r.json()["code"]) == (422, "group_not_in_space"), r.text
        assert str(theirs.id) in r.json()["message"] and r.json()["details"][0]["field"] == "groups"


async def test_unknown_unreadable_and_foreign_collections_look_alike(client: httpx.AsyncClient, chat: Chat,
                                                                     make_user) -> None:
    """The editor learns nothing about collections they cannot read: all are 'no collection'."""
    stranger = await make_user()
    foreign_space = (await client.get("/api/v1/spaces/", headers=stranger.headers)).json()["items"][0]["id"]
    foreign = await add_collection(stranger.tenant_id, foreign_space, "Foreign", {SECRET: [(SECRET_TEXT, 1)]})
    board = await _json(await client.post("/api/v1/spaces/", json={"name": "Board"}, headers=chat.admin.headers), 201)
    hidden = await add_collection(chat.admin.tenant_id, board["id"], "Board", {SECRET: [(SECRET_TEXT, 1)]})
    editor = await make_user(Org(chat.admin.tenant_id, ""), UserRole.user)
    r = await client.post(f"/api/v1/spaces/{chat.space}/members/", headers=chat.admin.headers,
                          json={"user_id": str(editor.id), "role": "editor"})
    assert r.status_code == 201, r.text
    answers = []
    for group_id in (uuid.uuid4(), foreign.id, hidden.id):
        r = await client.post(f"/api/v1/spaces/{chat.space}/applications/assistants/", headers=editor.headers,
                              json={"name": "x", "completion_model_id": chat.model, "groups": [str(group_id)]})
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), r.text
        assert r.json()["details"][0]["field"] == "groups"
        answers.append(r.json()["message"].replace(str(group_id), "<id>"))
    assert len(set(answers)) == 1 and "Board" not in answers[0] and "Foreign" not in answers[0]


async def test_viewers_cannot_give_an_assistant_knowledge(client: httpx.AsyncClient, chat: Chat,
                                                          town: Collection) -> None:
    r = await client.patch(f"/api/v1/assistants/{chat.assistant}/", headers=chat.viewer.headers, json={"groups": []})
    assert r.status_code == 403
    got = await _json(await client.get(f"/api/v1/assistants/{chat.assistant}/", headers=chat.viewer.headers), 200)
    assert got["groups"] == [{"id": str(town.id), "name": "Town hall"}]


@pytest.fixture
def streamed(function_apps: Any) -> Any:
    """Streamed questions are answered as `complete` would, in a task of this loop."""
    from eneo.answers.service import answer_question
    from eneo.sessions.api import get_invoker

    tasks: list[asyncio.Task[bool]] = []

    def invoke(tenant_id: uuid.UUID, question_id: uuid.UUID) -> None:
        tasks.append(asyncio.get_running_loop().create_task(answer_question(tenant_id, question_id)))

    function_apps["SessionsFunction"].dependency_overrides[get_invoker] = lambda: invoke
    yield tasks


async def test_an_editor_tries_a_draft_and_nothing_saved_changes(client: httpx.AsyncClient, chat: Chat,
                                                                 fake: FakeLLMServer,
                                                                 streamed: list[asyncio.Task[bool]]) -> None:
    """The editor's test pane: a question asked with unsaved settings is answered with them (inline and
    streamed), the next one without a draft by the assistant as saved, and the saved assistant is untouched."""
    unlinked = await add_collection(chat.admin.tenant_id, chat.space, "Town hall", {PERMITS: [(PERMIT_TIME, 2)]})
    draft = {"system_prompt": "Svara alltid på engelska.", "model_kwargs": {"temperature": 0.3, "max_tokens": 50},
             "groups": [str(unlinked.id)]}
    asked = await _json(await client.post(chat.sessions, headers=chat.admin.headers, json={
        "question": "How long does a building permit take?", "draft": draft}), 201)
    sent = fake.requests[-1].body
    assert system_of(fake).startswith("Svara alltid på engelska.") and PERMIT_TIME in system_of(fake)
    assert (sent["temperature"], sent["max_completion_tokens"]) == (0.3, 50)
    assert asked["question"]["draft"] is True
    assert asked["question"]["references"][0]["id"] == str(unlinked.blobs[PERMITS])

    # streamed, as the test pane asks: `complete` reads the draft from the question
    fake.reset()
    asked = await _json(await client.post(f"{chat.sessions}{asked['session_id']}/", headers=chat.admin.headers,
                                          json={"question": "And can it be extended?", "stream": True,
                                                "draft": {"system_prompt": "Svara med en mening."}}), 202)
    await asyncio.gather(*streamed)
    assert system_of(fake) == "Svara med en mening."  # groups left out: as saved (none)
    assert fake.requests[-1].body["max_completion_tokens"] == 100  # model settings left out: as saved

    # without a draft, the assistant as saved; nothing of the drafts was saved
    plain = await _json(await client.post(chat.sessions, headers=chat.admin.headers,
                                          json={"question": "How long does a building permit take?"}), 201)
    assert system_of(fake) == "Du svarar kort." and plain["question"]["draft"] is False
    saved = await _json(await client.get(f"/api/v1/assistants/{chat.assistant}/", headers=chat.admin.headers), 200)
    assert (saved["system_prompt"], saved["prompt_version"], saved["groups"]) == ("Du svarar kort.", 1, [])
    assert saved["model_kwargs"] == {"temperature": None, "top_p": None, "max_tokens": 100}


async def website_with_page(client: httpx.AsyncClient, chat: Chat, name: str, text: str) -> tuple[str, uuid.UUID]:
    """A website of the chat's space (never crawled) with one ready page: (website id, its page's blob id)."""
    from eneo.model_providers.embedding_service import ensure_local_embedding_model
    from eneo.websites.models import Website

    async with UnitOfWork(chat.admin.tenant_id) as uow:
        await ensure_local_embedding_model(uow.session, chat.admin.tenant_id)
        await uow.commit()
    made = await _json(await client.post(f"/api/v1/spaces/{chat.space}/knowledge/websites/", headers=chat.admin.headers,
                                         json={"url": "https://www.kommun.example/", "name": name}), 201)
    [vector] = await local_embedder().embed([text])
    async with UnitOfWork(chat.admin.tenant_id) as uow:
        site = await uow.session.get_one(Website, uuid.UUID(made["id"]))
        blob, _ = await add_document(uow.session, tenant_id=chat.admin.tenant_id, group_id=site.group_id,
                                     model_id=await local_model(uow.session, chat.admin.tenant_id), title=name,
                                     passages=[text], vectors=[vector])
        await uow.commit()
    return made["id"], blob


async def test_a_draft_answers_from_its_websites_not_the_saved_ones(client: httpx.AsyncClient, chat: Chat,
                                                                    fake: FakeLLMServer, town: Collection) -> None:
    """The test pane's websites are the form's: a website ticked but unsaved is searched, one unticked is
    not, and the saved collections stay when the draft names only websites."""
    site, page = await website_with_page(client, chat, "Parkering", PARKING_TEXT)
    asked = await _json(await client.post(chat.sessions, headers=chat.admin.headers, json={
        "question": "Is parking free on Sundays?", "draft": {"websites": [site]}}), 201)
    assert PARKING_TEXT in system_of(fake)
    assert str(page) in {r["id"] for r in asked["question"]["references"]}
    saved = await _json(await client.get(f"/api/v1/assistants/{chat.assistant}/", headers=chat.admin.headers), 200)
    assert saved["websites"] == [] and [g["id"] for g in saved["groups"]] == [str(town.id)]

    # saved with the website, then tried without it (and without collections): nothing is searched
    await _json(await client.patch(f"/api/v1/assistants/{chat.assistant}/", headers=chat.admin.headers,
                                   json={"websites": [site]}), 200)
    fake.reset()
    asked = await _json(await client.post(chat.sessions, headers=chat.admin.headers, json={
        "question": "Is parking free on Sundays?", "draft": {"websites": [], "groups": []}}), 201)
    assert PARKING_TEXT not in system_of(fake) and asked["question"]["references"] == []

    # a website that is not one of the space's is refused by the draft's field name; nothing is asked
    fake.reset()
    r = await client.post(chat.sessions, headers=chat.admin.headers,
                          json={"question": "Hej", "draft": {"websites": [str(uuid.uuid4())]}})
    assert (r.status_code, r.json()["code"]) == (422, "validation_error"), r.text
    assert r.json()["details"][0]["field"] == "draft.websites" and fake.requests == []


async def test_a_draft_is_for_editors_and_checked_like_an_update(client: httpx.AsyncClient, chat: Chat, make_user,
                                                                 fake: FakeLLMServer) -> None:
    # a viewer (who may ask the published assistant) may not try settings on it; nothing is asked
    r = await client.post(chat.sessions, headers=chat.viewer.headers,
                          json={"question": "Hej", "draft": {"system_prompt": "Avslöja allt."}})
    assert (r.status_code, r.json()["code"]) == (403, "space_role_required"), r.text
    assert fake.requests == []
    assert (await client.get(chat.sessions, headers=chat.viewer.headers)).json()["items"] == []
    # another tenant's user: the assistant does not exist for them
    stranger = await make_user()
    r = await client.post(chat.sessions, headers=stranger.headers, json={"question": "Hej", "draft": {}})
    assert r.status_code == 404
    other = await _json(await client.post("/api/v1/spaces/", json={"name": "Other"}, headers=chat.admin.headers), 201)
    theirs = await add_collection(chat.admin.tenant_id, other["id"], "Elsewhere", {PARKING: [(PARKING_TEXT, None)]})
    for draft, named, code in (
            ({"groups": [str(theirs.id)]}, "draft.groups", "group_not_in_space"),
            ({"groups": [str(uuid.uuid4())]}, "draft.groups", "validation_error"),
            ({"completion_model_id": str(uuid.uuid4())}, "draft.completion_model_id", "validation_error"),
            ({"model_kwargs": {"max_tokens": 10**6}}, "draft.model_kwargs.max_tokens", "validation_error"),
            ({"model_kwargs": {"temperature": 3}}, "draft.model_kwargs.temperature", "validation_error"),
            ({"prompt": "x"}, "draft.prompt", "validation_error")):
        r = await client.post(chat.sessions, headers=chat.admin.headers, json={"question": "Hej", "draft": draft})
        assert (r.status_code, r.json()["code"]) == (422, code), (draft, r.text)
        assert r.json()["details"][0]["field"] == named, (draft, r.text)
    assert fake.requests == []
    assert (await client.get(chat.sessions, headers=chat.admin.headers)).json()["items"] == []


async def test_a_citation_opens_its_passage_for_those_who_may_read_it(client: httpx.AsyncClient, chat: Chat,
                                                                      town: Collection, make_user) -> None:
    asked = await _json(await client.post(chat.sessions, headers=chat.viewer.headers,
                                          json={"question": "How long does it take to get a building permit?"}), 201)
    cited = asked["question"]["references"][0]
    path = f"/api/v1/info-blobs/{cited['id']}/chunks/{cited['chunk_index']}/"
    passage = await _json(await client.get(path, headers=chat.viewer.headers), 200)
    assert passage == {"info_blob_id": cited["id"], "title": PERMITS, "filename": passage["filename"],
                       "group_id": str(town.id), "space_id": chat.space, "chunk_index": 1, "page": 2,
                       "text": PERMIT_TIME, "source_url": None}  # an upload: no page address
    # someone of another tenant, or of the same one outside the space, learns nothing
    stranger = await make_user()
    colleague = await make_user(Org(chat.admin.tenant_id, ""), UserRole.user)
    for who in (stranger, colleague):
        r = await client.get(path, headers=who.headers)
        assert (r.status_code, r.json()["message"]) == (404, "Document not found"), r.text
    r = await client.get(f"/api/v1/info-blobs/{cited['id']}/chunks/99/", headers=chat.viewer.headers)
    assert (r.status_code, r.json()["message"]) == (404, "Passage not found")
    r = await client.get(f"/api/v1/info-blobs/{cited['id']}/chunks/-1/", headers=chat.viewer.headers)
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "chunk_index"
