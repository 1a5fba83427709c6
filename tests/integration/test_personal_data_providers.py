"""Personal data before external embedding and transcription providers (issue 15, part 5), and transcription
models limited to user groups (part 1).

What a data-protection officer notices: with protection on, the external embedding provider (the fake,
which records what it receives) never gets a valid personnummer, e-mail address or phone number of a
chunk or a question, while the stored text still finds them; audio never leaves for an external
transcription model. What an uploader notices: a transcription model limited to groups they are not in
refuses their recording before it is stored.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from eneo.core.db import UnitOfWork
from eneo.knowledge.models import Chunk, Group, InfoBlob, InfoBlobStatus
from eneo.personal_data.masking import contains
from eneo.users.models import UserRole
from tests.fakes.openai_extras import FakeOpenAIExtras
from tests.integration import pipeline
from tests.integration.conftest import Member, Org
from tests.integration.pipeline import (
    Collection,
    Queues,
    blob,
    invoke,
    new_collection,
    notifications,
    run_embed,
    upload,
)
from tests.integration.test_sessions import Chat, make_chat

queues, functions = pipeline.queues, pipeline.functions

PNR, EMAIL, PHONE = "811218-9876", "anna.svensson@example.se", "070-123 45 67"
PERSONAL = (PNR, "8112189876", EMAIL, PHONE, "701063-2391")
LEFT_ALONE = ("556677-8899", "1 250 000 kr", "211 45", "811218-9875")  # organisation, amount, postcode, bad check
DOC = (f"Ärende om försörjningsstöd. Sökande Anna Svensson, personnummer {PNR}, nås på {EMAIL} eller "
       f"{PHONE}. Medsökande har samordningsnummer 701063-2391. Hyresvärd med organisationsnummer 556677-8899 "
       f"kräver 1 250 000 kr. Postnummer 211 45. Felskrivet nummer 811218-9875. ") * 3
QUESTION = f"Vad gäller för {PNR}, som nås på {EMAIL} eller {PHONE}?"
WAV = Path(__file__).resolve().parents[1] / "fixtures" / "documents" / "riktlinjer.wav"
TRANSCRIPT = f"Hej, jag ringer om min mamma, personnummer {PNR}. Ring mig på {PHONE}."
TRANSCRIPTION_MODELS = "/api/v1/transcription-models/"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIExtras]:
    with FakeOpenAIExtras(dimensions=16, transcript=TRANSCRIPT) as server:
        yield server


@pytest.fixture(autouse=True)
def fresh(fake: FakeOpenAIExtras) -> None:
    fake.reset()


async def _json(r: httpx.Response, status: int) -> Any:
    assert r.status_code == status, r.text
    return r.json()


async def protect(client: httpx.AsyncClient, admin: Member, on: bool = True) -> None:
    got = await _json(await client.patch("/api/v1/settings/", headers=admin.headers,
                                         json={"protect_personal_data": on}), 200)
    assert got["protect_personal_data"] is on


async def external_embeddings(client: httpx.AsyncClient, c: Collection, fake: FakeOpenAIExtras,
                              local: bool = False) -> None:
    """The collection's embedding model becomes one at the fake (an external provider unless `local`)."""
    provider = await _json(await client.post("/api/v1/admin/model-providers/", headers=c.member.headers, json={
        "name": f"p-{uuid.uuid4().hex[:6]}", "type": "openai_compatible", "base_url": fake.openai_url,
        "api_key": fake.api_key or "any-key", "local": local}), 201)
    model = await _json(await client.post("/api/v1/embedding-models/", headers=c.member.headers, json={
        "provider_id": provider["id"], "name": f"emb-{uuid.uuid4().hex[:6]}", "dimensions": 16}), 201)
    async with UnitOfWork(c.member.tenant_id) as uow:  # as tests/integration/test_ingestion.py does
        group = await uow.session.get_one(Group, c.group_id)
        group.embedding_model_id = uuid.UUID(model["id"])


def embedded(fake: FakeOpenAIExtras) -> str:
    return "\n".join(t for call in fake.embedding_calls for t in call.inputs)


async def ingest_text(c: Collection, q: Queues, functions: dict[str, Any], text: str) -> uuid.UUID:
    blob_id = await upload(c, q, text.encode(), "arende.txt", "text/plain")
    assert await invoke(functions["ingest"], q.event(notifications(q, 1))) == {"batchItemFailures": []}
    await run_embed(q, functions, 1)
    assert (await blob(c, blob_id)).status == InfoBlobStatus.ready
    return blob_id


async def search(client: httpx.AsyncClient, c: Collection, query: str, method: str = "hybrid") -> list[str]:
    r = await client.post(f"/api/v1/groups/{c.group_id}/searches/", headers=c.member.headers,
                          json={"query": query, "method": method})
    return [h["info_blob_id"] for h in (await _json(r, 200))["items"]]


# --- embeddings ----------------------------------------------------------------------------------


async def test_a_protected_tenants_chunks_and_searches_reach_the_external_embedder_masked(
        client: httpx.AsyncClient, make_user: Any, queues: Queues, functions: dict[str, Any],
        fake: FakeOpenAIExtras) -> None:
    c = await new_collection(make_user)
    await external_embeddings(client, c, fake)
    await protect(client, c.member)

    blob_id = await ingest_text(c, queues, functions, DOC)
    sent = embedded(fake)
    assert "[PERSONNUMMER_1]" in sent and "[EMAIL_1]" in sent and "[TELEFON_1]" in sent
    assert not contains([sent]) and not any(v in sent for v in PERSONAL), sent
    assert all(v in sent for v in LEFT_ALONE), sent  # false positives go as they are
    # The stored text is whole: full-text search still finds the personnummer.
    async with UnitOfWork(c.member.tenant_id) as uow:
        texts = (await uow.session.scalars(select(Chunk.text).where(Chunk.info_blob_id == blob_id))).all()
    assert PNR in " ".join(texts) and EMAIL in " ".join(texts)
    assert str(blob_id) in await search(client, c, PNR, "lexical")

    fake.reset()
    assert str(blob_id) in await search(client, c, QUESTION)
    [call] = fake.embedding_calls
    assert call.inputs == ["Vad gäller för [PERSONNUMMER_1], som nås på [EMAIL_1] eller [TELEFON_1]?"]

    # Protection off: the provider gets the text as it is (the organisation's choice).
    await protect(client, c.member, False)
    fake.reset()
    await search(client, c, QUESTION)
    assert fake.embedding_calls[0].inputs == [QUESTION]
    await ingest_text(c, queues, functions, DOC.replace("Ärende", "Nytt ärende"))
    assert all(v in embedded(fake) for v in (PNR, EMAIL, PHONE))


async def test_a_provider_marked_local_gets_the_chunks_as_they_are(
        client: httpx.AsyncClient, make_user: Any, queues: Queues, functions: dict[str, Any],
        fake: FakeOpenAIExtras) -> None:
    c = await new_collection(make_user)
    await external_embeddings(client, c, fake, local=True)
    await protect(client, c.member)
    await ingest_text(c, queues, functions, DOC)
    assert PNR in embedded(fake) and EMAIL in embedded(fake)  # it stays in the organisation


async def test_a_question_to_an_assistant_reaches_the_external_embedder_masked(
        client: httpx.AsyncClient, make_user: Any, queues: Queues, functions: dict[str, Any],
        fake: FakeOpenAIExtras) -> None:
    admin = await make_user()
    viewer = await make_user(Org(admin.tenant_id, ""), UserRole.user)
    chat: Chat = await make_chat(client, admin, viewer, fake, context_window=8192)
    group = await _json(await client.post(f"/api/v1/spaces/{chat.space}/knowledge/groups/", headers=admin.headers,
                                          json={"name": "Ärenden"}), 201)
    c = Collection(admin, uuid.UUID(group["id"]), uuid.UUID(group["embedding_model_id"]))
    await external_embeddings(client, c, fake)
    await _json(await client.patch(f"/api/v1/assistants/{chat.assistant}/", headers=admin.headers,
                                   json={"groups": [group["id"]]}), 200)

    async def ask() -> str:
        fake.reset()
        await _json(await client.post(chat.sessions, json={"question": QUESTION}, headers=viewer.headers), 201)
        [call] = fake.embedding_calls
        return "\n".join(call.inputs)

    assert PNR in await ask()  # nobody opted in
    for policy in ("mask", "local_model"):  # the assistant opts in
        await _json(await client.patch(f"/api/v1/assistants/{chat.assistant}/", headers=admin.headers,
                                       json={"personal_data": policy}), 200)
        sent = await ask()
        assert "[PERSONNUMMER_1]" in sent and not contains([sent]), (policy, sent)
    await _json(await client.patch(f"/api/v1/assistants/{chat.assistant}/", headers=admin.headers,
                                   json={"personal_data": "tenant"}), 200)
    await protect(client, admin)  # the organisation opts in
    sent = await ask()
    assert "[EMAIL_1]" in sent and not contains([sent]), sent


# --- audio ---------------------------------------------------------------------------------------


async def transcription_model(client: httpx.AsyncClient, admin: Member, fake: FakeOpenAIExtras, name: str, *,
                              local: bool = False, **body: Any) -> dict[str, Any]:
    provider = await _json(await client.post("/api/v1/admin/model-providers/", headers=admin.headers, json={
        "name": f"p-{uuid.uuid4().hex[:6]}", "type": "openai_compatible", "base_url": fake.openai_url,
        "api_key": fake.api_key or "any-key", "local": local}), 201)
    return await _json(await client.post(TRANSCRIPTION_MODELS, headers=admin.headers, json={
        "provider_id": provider["id"], "name": name, **body}), 201)


async def upload_recording(client: httpx.AsyncClient, member: Member, group_id: uuid.UUID) -> httpx.Response:
    return await client.post(f"/api/v1/groups/{group_id}/info-blobs/upload/", headers=member.headers,
                             files={"file": ("samtal.wav", WAV.read_bytes(), "audio/wav")})


async def ingest_recording(client: httpx.AsyncClient, c: Collection, q: Queues, functions: dict[str, Any]
                           ) -> InfoBlob:
    blob_id = uuid.UUID((await _json(await upload_recording(client, c.member, c.group_id), 202))["id"])
    assert await invoke(functions["ingest"], q.event(notifications(q, 1))) == {"batchItemFailures": []}
    return await blob(c, blob_id)


async def test_protected_audio_goes_only_to_a_local_transcription_model(
        client: httpx.AsyncClient, make_user: Any, queues: Queues, functions: dict[str, Any],
        fake: FakeOpenAIExtras) -> None:
    c = await new_collection(make_user)
    await transcription_model(client, c.member, fake, "whisper-external", is_default=True)
    await protect(client, c.member)

    failed = await ingest_recording(client, c, queues, functions)
    assert (failed.status, failed.error_code) == (InfoBlobStatus.failed, "personal_data_protected")
    assert "whisper-external" in (failed.error_message or "") and '"local": true' in (failed.error_message or "")
    assert "protect_personal_data" in (failed.error_message or "")
    assert fake.transcription_calls == []  # the audio never left

    # A local model, though not the default, takes the audio; its transcript is text like any other: the
    # external embedding model gets it masked.
    await transcription_model(client, c.member, fake, "whisper-local", local=True)
    await external_embeddings(client, c, fake)
    await _json(await client.post(f"/api/v1/info-blobs/{failed.id}/retry/", headers=c.member.headers), 202)
    [retry] = queues.receive(queues.ingest_url)
    assert await invoke(functions["ingest"], queues.event([retry])) == {"batchItemFailures": []}
    assert [call.model for call in fake.transcription_calls] == ["whisper-local"]
    await run_embed(queues, functions, 1)
    assert (await blob(c, failed.id)).status == InfoBlobStatus.ready
    sent = embedded(fake)
    assert "[PERSONNUMMER_1]" in sent and "[TELEFON_1]" in sent and not contains([sent]), sent


# --- transcription models limited to groups ------------------------------------------------------


async def test_a_group_limited_transcription_model_transcribes_only_for_its_members(
        client: httpx.AsyncClient, make_user: Any, queues: Queues, functions: dict[str, Any],
        fake: FakeOpenAIExtras) -> None:
    c = await new_collection(make_user)
    admin = c.member
    group = await _json(await client.post("/api/v1/user-groups/", json={"name": "Tolkar"}, headers=admin.headers),
                        201)
    model = await transcription_model(client, admin, fake, "whisper-1")
    limited = await _json(await client.patch(f"{TRANSCRIPTION_MODELS}{model['id']}/", headers=admin.headers,
                                             json={"allowed_group_ids": [group["id"]]}), 200)
    assert limited["allowed_group_ids"] == [group["id"]]

    async def blobs() -> int:
        async with UnitOfWork(admin.tenant_id) as uow:
            return await uow.session.scalar(select(func.count()).select_from(InfoBlob)
                                            .where(InfoBlob.group_id == c.group_id)) or 0

    # Not a member (an admin included): refused before the bytes are stored, on both upload routes.
    r = await upload_recording(client, admin, c.group_id)
    assert (r.status_code, r.json()["code"]) == (403, "model_not_allowed"), r.text
    assert "whisper-1" in r.json()["message"]
    r = await client.post(f"/api/v1/groups/{c.group_id}/info-blobs/upload-url/", headers=admin.headers,
                          json={"filename": "samtal.wav", "content_type": "audio/wav", "size_bytes": 1000})
    assert (r.status_code, r.json()["code"]) == (403, "model_not_allowed"), r.text
    assert await blobs() == 0
    # Other documents are not affected.
    r = await client.post(f"/api/v1/groups/{c.group_id}/info-blobs/upload/", headers=admin.headers,
                          files={"file": ("a.txt", b"Hemtjanst och trygghetslarm.", "text/plain")})
    await _json(r, 202)
    await invoke(functions["ingest"], queues.event(notifications(queues, 1)))

    # A member uploads and gets it transcribed.
    await _json(await client.post(f"/api/v1/user-groups/{group['id']}/members/", headers=admin.headers,
                                  json={"user_id": str(admin.id)}), 201)
    done = await ingest_recording(client, c, queues, functions)
    assert done.error_code is None and [call.model for call in fake.transcription_calls] == ["whisper-1"]

    # Removed from the group while the recording waited: the document fails, nothing is sent.
    fake.reset()
    r = await client.post(f"/api/v1/groups/{c.group_id}/info-blobs/upload/", headers=admin.headers,
                          files={"file": ("samtal2.wav", WAV.read_bytes() + b"\0\0", "audio/wav")})
    waiting = uuid.UUID((await _json(r, 202))["id"])
    r = await client.delete(f"/api/v1/user-groups/{group['id']}/members/{admin.id}/", headers=admin.headers)
    assert r.status_code == 204, r.text
    assert await invoke(functions["ingest"], queues.event(notifications(queues, 1))) == {"batchItemFailures": []}
    failed = await blob(c, waiting)
    assert (failed.status, failed.error_code) == (InfoBlobStatus.failed, "model_not_allowed")
    assert "uploader" in (failed.error_message or "") and fake.transcription_calls == []
    assert json.dumps(failed.error_message).count("whisper-1") == 1
