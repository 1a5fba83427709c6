"""Security classifications of embedding and transcription models (issue 15, part 6): a space's documents and
questions reach only models classified at least at the space's level, and a change of levels says which
collections (and the assistants using them) it stopped."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from eneo.classifications.knowledge import transcription_refusal
from eneo.core.db import UnitOfWork
from eneo.model_providers.models import TranscriptionModel
from tests.fakes.llm_server import FakeLLMServer
from tests.integration.test_security_classifications import (  # noqa: F401 (fixtures)
    _json,
    chat,
    classify,
    fake,
    fresh_fake,
    model_path,
    scale,
    space_path,
)
from tests.integration.test_sessions import Chat

CODE = "embedding_classification_too_low"


async def collection(client: httpx.AsyncClient, chat: Chat, **body: Any) -> httpx.Response:  # noqa: F811
    return await client.post(f"/api/v1/spaces/{chat.space}/knowledge/groups/", headers=chat.admin.headers,
                             json={"name": f"Riktlinjer {uuid.uuid4().hex[:4]}", **body})


async def test_a_collection_is_bound_only_to_an_embedding_model_at_its_spaces_level(
        client: httpx.AsyncClient, chat: Chat) -> None:  # noqa: F811
    ids = await scale(client, chat.admin, "Intern", "Skyddad")
    await classify(client, chat.admin, space_path(chat), ids["Skyddad"])
    r = await collection(client, chat)  # the organisation's default model is unclassified
    assert (r.status_code, r.json()["code"]) == (422, CODE)
    assert r.json()["details"][0]["field"] == "embedding_model_id"
    assert "unclassified" in r.json()["message"] and "'Skyddad'" in r.json()["message"]

    await classify(client, chat.admin, space_path(chat), None)
    group = await _json(await collection(client, chat), 201)
    embedder = f"/api/v1/embedding-models/{group['embedding_model_id']}/"
    await classify(client, chat.admin, embedder, ids["Intern"])
    await classify(client, chat.admin, space_path(chat), ids["Intern"])
    assert (await collection(client, chat)).status_code == 201  # Intern serves Intern
    await classify(client, chat.admin, space_path(chat), ids["Skyddad"])
    website = await client.post(f"/api/v1/spaces/{chat.space}/knowledge/websites/", headers=chat.admin.headers,
                                json={"url": "https://www.example.se/"})  # a website is a collection too
    assert (website.status_code, website.json()["code"]) == (422, CODE)


async def test_a_level_change_stops_collections_their_assistants_and_searches_and_says_which(
        client: httpx.AsyncClient, chat: Chat, fake: FakeLLMServer) -> None:  # noqa: F811
    ids = await scale(client, chat.admin, "Intern", "Skyddad")
    await classify(client, chat.admin, model_path(chat.model), ids["Skyddad"])
    group = await _json(await collection(client, chat), 201)
    embedder = f"/api/v1/embedding-models/{group['embedding_model_id']}/"
    await _json(await client.patch(f"/api/v1/assistants/{chat.assistant}/", headers=chat.admin.headers,
                                   json={"groups": [group["id"]]}), 200)

    raised = await classify(client, chat.admin, space_path(chat), ids["Intern"])
    assert raised["stopped_collections"] == [{"id": group["id"], "name": group["name"], "space_id": chat.space,
                                              "kind": "collection"}]
    assert raised["stopped_assistants"] == [{"id": chat.assistant, "name": "Helper", "space_id": chat.space}]
    refused = await client.post(chat.sessions, headers=chat.viewer.headers, json={"question": "Hej?"})
    assert (refused.status_code, refused.json()["code"]) == (409, CODE)
    assert "'Intern'" in refused.json()["message"]
    assert fake.requests == []  # nothing reached any model
    search = f"/api/v1/groups/{group['id']}/searches/"
    r = await client.post(search, headers=chat.viewer.headers, json={"query": "lov"})
    assert (r.status_code, r.json()["code"]) == (409, CODE)
    r = await client.post(search, headers=chat.viewer.headers, json={"query": "lov", "method": "lexical"})
    assert r.status_code == 200, r.text  # full text alone sends the query to no model

    # the embedding model raised: nothing new stops, and the collection works again
    up = await classify(client, chat.admin, embedder, ids["Skyddad"])
    assert (up["stopped_collections"], up["stopped_assistants"]) == ([], [])
    assert (await client.post(search, headers=chat.viewer.headers, json={"query": "lov"})).status_code == 200
    # unclassified again: the model's own PATCH names what it stopped
    down = await classify(client, chat.admin, embedder, None)
    assert [c["id"] for c in down["stopped_collections"]] == [group["id"]]
    assert [a["id"] for a in down["stopped_assistants"]] == [chat.assistant]
    await classify(client, chat.admin, embedder, ids["Skyddad"])
    # a new order that puts Intern (the space) above Skyddad (both models) stops the collection too
    swapped = await _json(await client.post("/api/v1/security-classifications/reorder/", headers=chat.admin.headers,
                                            json={"ids": [ids["Skyddad"], ids["Intern"]]}), 200)
    assert [c["id"] for c in swapped["stopped_collections"]] == [group["id"]]
    assert [a["id"] for a in swapped["stopped_assistants"]] == [chat.assistant]


async def test_audio_of_a_space_classified_above_the_transcription_model_is_not_sent(
        client: httpx.AsyncClient, chat: Chat, fake: FakeLLMServer) -> None:  # noqa: F811
    ids = await scale(client, chat.admin, "Intern", "Skyddad")
    group = await _json(await collection(client, chat), 201)
    provider = await _json(await client.post("/api/v1/admin/model-providers/", headers=chat.admin.headers, json={
        "name": "whisper", "type": "openai", "api_key": fake.api_key, "base_url": fake.openai_url}), 201)
    model_id = (await _json(await client.post("/api/v1/transcription-models/", headers=chat.admin.headers, json={
        "provider_id": provider["id"], "name": "whisper-1"}), 201))["id"]
    await classify(client, chat.admin, f"/api/v1/transcription-models/{model_id}/", ids["Intern"])

    async def refusal() -> str | None:
        async with UnitOfWork(chat.admin.tenant_id) as uow:
            model = await uow.session.get_one(TranscriptionModel, uuid.UUID(model_id))
            return await transcription_refusal(uow.session, chat.admin.tenant_id, uuid.UUID(group["id"]), model)

    assert await refusal() is None  # unclassified space: any model
    await classify(client, chat.admin, space_path(chat), ids["Intern"])
    assert await refusal() is None  # Intern serves Intern
    await classify(client, chat.admin, space_path(chat), ids["Skyddad"])
    why = await refusal()
    assert why is not None and "'whisper-1'" in why and "'Intern'" in why and "'Skyddad'" in why
