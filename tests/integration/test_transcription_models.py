"""Transcription models through the models function, and audio documents transcribed with them.

What an admin notices: they add a speech-to-text model (e.g. whisper-1) of their own kind, never offered
to assistants as a chat model; one default per tenant; nothing of another tenant reachable; a provider
carrying one is not deleted. What an uploader notices: a recording becomes a searchable document, or
fails saying how to add the model it needs.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from eneo.core.db import UnitOfWork
from eneo.knowledge.models import Chunk, InfoBlob, InfoBlobStatus
from eneo.model_providers.clients import transcription_target
from eneo.users.models import UserRole
from tests.fakes.openai_extras import FakeOpenAIExtras
from tests.integration import pipeline
from tests.integration.conftest import Member, Org
from tests.integration.pipeline import PROVIDERS, Queues, add_provider, fake_provider, invoke, notifications, run_embed

MODELS = "/api/v1/transcription-models/"
WAV = Path(__file__).resolve().parents[1] / "fixtures" / "documents" / "riktlinjer.wav"
TRANSCRIPT = ("Hej och välkommen. Idag pratar vi om hemtjänsten: den enskilde ansöker hos "
              "biståndshandläggaren, som fattar beslut inom fyra veckor.")


async def _json(r: httpx.Response, status: int) -> Any:
    assert r.status_code == status, r.text
    return r.json()


async def add_model(client: httpx.AsyncClient, admin: Member, provider: str, name: str = "whisper-1",
                    **body: Any) -> dict[str, Any]:
    r = await client.post(MODELS, headers=admin.headers, json={"provider_id": provider, "name": name, **body})
    return await _json(r, 201)


def ids(page: dict[str, Any]) -> list[str]:
    return [m["id"] for m in page["items"]]


# --- the models ------------------------------------------------------------------------------------


async def test_admins_add_transcription_models_users_read_the_enabled_ones(client: httpx.AsyncClient,
                                                                           make_user: Any) -> None:
    admin = await make_user()
    user = await make_user(Org(admin.tenant_id, ""), UserRole.user)
    provider = await add_provider(client, admin)
    body = {"provider_id": provider, "name": "whisper-1"}

    r = await client.post(MODELS, json=body, headers=user.headers)
    assert (r.status_code, r.json()["code"]) == (403, "permission_required")
    on = await add_model(client, admin, provider)
    assert (on["name"], on["provider_id"], on["provider_type"], on["enabled"], on["is_default"]) == (
        "whisper-1", provider, "openai_compatible", True, False)
    off = await add_model(client, admin, provider, "gpt-4o-transcribe", enabled=False)

    assert ids(await _json(await client.get(MODELS, headers=user.headers), 200)) == [on["id"]]
    assert (await client.get(f"{MODELS}{off['id']}/", headers=user.headers)).status_code == 404
    assert (await _json(await client.get(f"{MODELS}{off['id']}/", headers=admin.headers), 200))["enabled"] is False
    everything = await _json(await client.get(MODELS, params={"include_disabled": "true"}, headers=admin.headers),
                             200)
    assert ids(everything) == [on["id"], off["id"]]
    r = await client.get(MODELS, params={"include_disabled": "true"}, headers=user.headers)
    assert (r.status_code, r.json()["code"]) == (403, "permission_required")
    for method, payload in (("PATCH", {"enabled": False}), ("DELETE", None)):
        r = await client.request(method, f"{MODELS}{on['id']}/", json=payload, headers=user.headers)
        assert (r.status_code, r.json()["code"]) == (403, "permission_required"), r.text

    # Not a chat model: assistants are never offered it.
    chat = await _json(await client.get("/api/v1/completion-models/", params={"include_disabled": "true"},
                                        headers=admin.headers), 200)
    assert chat["items"] == []

    r = await client.post(MODELS, json=body, headers=admin.headers)
    assert (r.status_code, r.json()["code"]) == (409, "transcription_model_name_taken")
    r = await client.post(MODELS, headers=admin.headers,
                          json={**body, "provider_id": await add_provider(client, admin, "anthropic")})
    assert (r.status_code, r.json()["code"]) == (422, "validation_error") and "anthropic" in r.json()["message"]
    assert (await add_model(client, admin, await add_provider(client, admin, "openai")))["provider_type"] == "openai"
    r = await client.post(MODELS, headers=admin.headers, json={**body, "provider_id": str(uuid.uuid4())})
    assert r.status_code == 422 and "no such model provider" in r.json()["message"]
    r = await client.post(MODELS, headers=admin.headers, json={**body, "name": "", "context_window": 1})
    assert r.status_code == 422  # empty name, and no chat-model fields

    assert (await client.delete(f"{MODELS}{on['id']}/", headers=admin.headers)).status_code == 204
    assert (await client.get(f"{MODELS}{on['id']}/", headers=admin.headers)).status_code == 404


async def test_one_default_per_tenant_and_it_is_enabled(client: httpx.AsyncClient, make_user: Any) -> None:
    admin = await make_user()
    provider = await add_provider(client, admin)
    first = await add_model(client, admin, provider, "whisper-1", is_default=True)
    second = await add_model(client, admin, provider, "whisper-large-v3")
    assert (first["is_default"], second["is_default"]) == (True, False)

    r = await client.patch(f"{MODELS}{second['id']}/", json={"is_default": True}, headers=admin.headers)
    assert (await _json(r, 200))["is_default"] is True
    assert (await _json(await client.get(f"{MODELS}{first['id']}/", headers=admin.headers), 200))["is_default"] is False

    r = await client.post(MODELS, headers=admin.headers, json={"provider_id": provider, "name": "x",
                                                               "enabled": False, "is_default": True})
    assert r.status_code == 422 and "disabled" in r.json()["message"]
    r = await client.patch(f"{MODELS}{second['id']}/", json={"enabled": False}, headers=admin.headers)
    assert ((await _json(r, 200))["enabled"], r.json()["is_default"]) == (False, False)  # no disabled default
    r = await client.patch(f"{MODELS}{second['id']}/", json={"is_default": True}, headers=admin.headers)
    assert r.status_code == 422
    r = await client.patch(f"{MODELS}{second['id']}/", json={"name": "renamed"}, headers=admin.headers)
    assert r.status_code == 422  # the name is fixed

    # Two admins making different models the default at once still leave exactly one.
    await asyncio.gather(*(client.patch(f"{MODELS}{m['id']}/", json={"enabled": True, "is_default": True},
                                        headers=admin.headers) for m in (first, second)))
    listed = await _json(await client.get(MODELS, headers=admin.headers), 200)
    assert sum(m["is_default"] for m in listed["items"]) == 1


async def test_other_tenants_transcription_models_are_not_found(client: httpx.AsyncClient, make_user: Any) -> None:
    admin, stranger = await make_user(), await make_user()
    provider = await add_provider(client, admin)
    model = await add_model(client, admin, provider, is_default=True)
    path = f"{MODELS}{model['id']}/"
    for method, body in (("GET", None), ("PATCH", {"enabled": False}), ("DELETE", None)):
        r = await client.request(method, path, json=body, headers=stranger.headers)
        assert (r.status_code, r.json()["code"]) == (404, "not_found"), (method, r.text)
    assert model["id"] not in ids(await _json(await client.get(
        MODELS, params={"include_disabled": "true"}, headers=stranger.headers), 200))
    r = await client.post(MODELS, headers=stranger.headers, json={"provider_id": provider, "name": "whisper-1"})
    assert r.status_code == 422 and "no such model provider" in r.json()["message"]
    got = await _json(await client.get(path, headers=admin.headers), 200)
    assert (got["enabled"], got["is_default"]) == (True, True)  # nothing changed


async def test_a_provider_with_transcription_models_is_not_deleted(client: httpx.AsyncClient, make_user: Any) -> None:
    admin = await make_user()
    provider = await add_provider(client, admin)
    model = await add_model(client, admin, provider, enabled=False)  # disabled ones count too
    r = await client.delete(f"{PROVIDERS}{provider}/", headers=admin.headers)
    assert (r.status_code, r.json()["code"]) == (409, "provider_in_use")
    assert "1 transcription model" in r.json()["message"]
    assert (await client.delete(f"{MODELS}{model['id']}/", headers=admin.headers)).status_code == 204
    assert (await client.delete(f"{PROVIDERS}{provider}/", headers=admin.headers)).status_code == 204


# --- audio documents through the pipeline ----------------------------------------------------------


queues, functions = pipeline.queues, pipeline.functions


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIExtras]:
    with FakeOpenAIExtras(dimensions=16, transcript=TRANSCRIPT) as server:
        yield server


async def upload_recording(client: httpx.AsyncClient, admin: Member) -> tuple[str, str]:
    """A collection (local embedding model) and the wav uploaded into it: (group id, blob id)."""
    space = (await _json(await client.post("/api/v1/spaces/", json={"name": "Omsorg"}, headers=admin.headers),
                         201))["id"]
    group = await _json(await client.post(f"/api/v1/spaces/{space}/knowledge/groups/", json={"name": "Samtal"},
                                          headers=admin.headers), 201)
    r = await client.post(f"/api/v1/groups/{group['id']}/info-blobs/upload/", headers=admin.headers,
                          files={"file": ("samtal.wav", WAV.read_bytes(), "audio/wav")})
    return group["id"], (await _json(r, 202))["id"]


async def ingest_notifications(q: Queues, functions: dict[str, Any]) -> None:
    messages = notifications(q, 1)
    assert any("ObjectCreated" in m["Body"] for m in messages), [m["Body"][:80] for m in messages]
    assert await invoke(functions["ingest"], q.event(messages)) == {"batchItemFailures": []}


async def admin_with_fake_provider(client: httpx.AsyncClient, make_user: Any, fake: FakeOpenAIExtras
                                   ) -> tuple[Member, str]:
    """A new tenant's admin and a provider of theirs at the fake (its calls forgotten): (admin, provider id)."""
    fake.reset()
    admin = await make_user()
    return admin, await fake_provider(client, admin, fake)


async def blob(admin: Member, blob_id: str) -> InfoBlob:
    async with UnitOfWork(admin.tenant_id) as uow:
        return await uow.session.get_one(InfoBlob, uuid.UUID(blob_id))


async def test_a_recording_is_transcribed_with_the_default_model_and_becomes_ready(
        client: httpx.AsyncClient, make_user: Any, queues: Queues, functions: dict[str, Any],
        fake: FakeOpenAIExtras) -> None:
    admin, provider = await admin_with_fake_provider(client, make_user, fake)
    oldest = await add_model(client, admin, provider, "whisper-old")
    await add_model(client, admin, provider, "whisper-1", is_default=True)  # newer, but the default
    _, blob_id = await upload_recording(client, admin)

    await ingest_notifications(queues, functions)
    [call] = fake.transcription_calls
    assert (call.model, call.filename, call.size, call.key_ok) == ("whisper-1", "samtal.wav", WAV.stat().st_size,
                                                                   True)
    stored = await blob(admin, blob_id)
    assert (stored.status, stored.content_type, stored.error_code) == (InfoBlobStatus.embedding, "audio/wav", None)

    await run_embed(queues, functions, 1)
    done = await blob(admin, blob_id)
    assert done.status == InfoBlobStatus.ready and done.chunks_embedded == done.chunks_total >= 1
    async with UnitOfWork(admin.tenant_id) as uow:
        texts = (await uow.session.scalars(select(Chunk.text).where(Chunk.info_blob_id == done.id)
                                           .order_by(Chunk.chunk_index))).all()
    assert "biståndshandläggaren" in " ".join(texts) and "hemtjänsten" in texts[0]
    # And it can be found: the transcript is searchable like any document's text.
    r = await client.post(f"/api/v1/groups/{done.group_id}/searches/", headers=admin.headers,
                          json={"query": "hur ansöker man om hemtjänst"})
    assert any(h["info_blob_id"] == blob_id for h in (await _json(r, 200))["items"]), r.text

    # Without a default, the oldest enabled model transcribes.
    default_id = next(m["id"] for m in (await _json(await client.get(MODELS, headers=admin.headers), 200))["items"]
                      if m["is_default"])
    await _json(await client.patch(f"{MODELS}{default_id}/", json={"enabled": False}, headers=admin.headers), 200)
    async with UnitOfWork(admin.tenant_id) as uow:
        target = await transcription_target(uow, admin.tenant_id)
    assert target is not None and target.model == oldest["name"]
    assert fake.api_key is None or fake.api_key not in repr(target)


async def test_a_recording_without_a_transcription_model_fails_saying_how_to_add_one(
        client: httpx.AsyncClient, make_user: Any, queues: Queues, functions: dict[str, Any],
        fake: FakeOpenAIExtras) -> None:
    admin, provider = await admin_with_fake_provider(client, make_user, fake)
    # Neither a chat model with a speech-to-text name (the old rule) nor a disabled transcription model counts.
    await _json(await client.post("/api/v1/completion-models/", headers=admin.headers, json={
        "provider_id": provider, "name": "whisper-1", "context_window": 1}), 201)
    await add_model(client, admin, provider, "whisper-1", enabled=False)
    _, blob_id = await upload_recording(client, admin)

    await ingest_notifications(queues, functions)
    failed = await blob(admin, blob_id)
    assert (failed.status, failed.error_code) == (InfoBlobStatus.failed, "no_transcription_model")
    assert "POST /api/v1/transcription-models/" in (failed.error_message or "")
    assert fake.transcription_calls == []
    got = await _json(await client.get(f"/api/v1/info-blobs/{blob_id}/", headers=admin.headers), 200)
    assert (got["status"], got["error_code"]) == ("failed", "no_transcription_model")
