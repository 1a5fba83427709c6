"""Collections, documents and embedding models through the knowledge and models functions.

Space roles decide: members read, editors and admins change, everyone else and other tenants get
404. Deleting removes rows, chunks and stored objects; changing a collection's embedding model
clears its vectors and queues all its chunks for the new model; retry starts a failed document over.
"""

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest
from sqlalchemy import create_engine, func, select, text, update

from eneo.auth.principal import Principal
from eneo.core import storage
from eneo.core.db import UnitOfWork
from eneo.core.redis import get_redis
from eneo.core.settings import get_settings
from eneo.knowledge.models import Chunk, InfoBlob, InfoBlobStatus
from eneo.knowledge.service.access import readable_group_ids
from eneo.users.models import UserRole
from eneo_local.services import Endpoints
from tests.integration.conftest import Member, Org
from tests.integration.pipeline import add_provider

EMBEDDING_MODELS = "/api/v1/embedding-models/"
REGION = "eu-north-1"


@dataclass
class Storage:
    s3: Any
    sqs: Any
    bucket: str
    ingest_queue: str
    embed_queue: str

    def object_keys(self, prefix: str = "tenants/") -> list[str]:
        return [o["Key"] for o in self.s3.list_objects_v2(Bucket=self.bucket, Prefix=prefix).get("Contents", [])]

    def messages(self, queue_url: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while batch := self.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10,
                                                WaitTimeSeconds=0).get("Messages", []):
            found += [json.loads(m["Body"]) for m in batch]
        return found


@pytest.fixture
def knowledge_env(services: Endpoints, monkeypatch: pytest.MonkeyPatch) -> Iterator[Storage]:
    """A bucket and the two queues of our own in moto, with the settings pointing at them."""
    name = uuid.uuid4().hex[:12]
    s3 = boto3.client("s3", endpoint_url=services.s3_endpoint_url, region_name=REGION)
    sqs = boto3.client("sqs", endpoint_url=services.s3_endpoint_url, region_name=REGION)
    s3.create_bucket(Bucket=f"docs-{name}", CreateBucketConfiguration={"LocationConstraint": REGION})
    env = Storage(s3, sqs, f"docs-{name}", sqs.create_queue(QueueName=f"ingest-{name}")["QueueUrl"],
                  sqs.create_queue(QueueName=f"embed-{name}")["QueueUrl"])
    monkeypatch.setenv("DOCUMENTS_BUCKET", env.bucket)
    monkeypatch.setenv("INGEST_QUEUE_URL", env.ingest_queue)
    monkeypatch.setenv("EMBED_QUEUE_URL", env.embed_queue)
    get_settings.cache_clear()
    storage.reset_clients()
    yield env
    get_settings.cache_clear()
    storage.reset_clients()


@dataclass
class Team:
    admin: Member  # tenant admin and the space's admin
    editor: Member
    viewer: Member
    outsider: Member  # same tenant, not a member of the space
    stranger: Member  # another tenant's admin
    space: str

    def groups(self) -> str:
        return f"/api/v1/spaces/{self.space}/knowledge/groups/"


@pytest.fixture
async def team(client: httpx.AsyncClient, make_user: Any, knowledge_env: Storage) -> Team:
    admin = await make_user()
    org = Org(admin.tenant_id, "")
    editor, viewer, outsider = [await make_user(org, UserRole.user) for _ in range(3)]
    space = (await client.post("/api/v1/spaces/", json={"name": "Skola"}, headers=admin.headers)).json()["id"]
    for who, role in ((editor, "editor"), (viewer, "viewer")):
        r = await client.post(f"/api/v1/spaces/{space}/members/", json={"user_id": str(who.id), "role": role},
                              headers=admin.headers)
        assert r.status_code == 201, r.text
    return Team(admin, editor, viewer, outsider, await make_user(), space)


async def make_group(client: httpx.AsyncClient, team: Team, who: Member | None = None, **body: Any) -> dict[str, Any]:
    r = await client.post(team.groups(), json={"name": "Riktlinjer", **body}, headers=(who or team.editor).headers)
    assert r.status_code == 201, r.text
    return r.json()


async def upload_text(client: httpx.AsyncClient, group_id: str, who: Member, text_: str = "Skolan börjar i augusti.",
                      name: str = "info.txt") -> dict[str, Any]:
    r = await client.post(f"/api/v1/groups/{group_id}/info-blobs/upload/", headers=who.headers,
                          files={"file": (name, text_.encode(), "text/plain")})
    assert r.status_code == 202, r.text
    return r.json()


async def add_chunks(tenant_id: uuid.UUID, blob_id: str, n: int, model_id: str | None = None) -> list[uuid.UUID]:
    """Chunks as ingest and embed would leave them (vectors of `model_id` when given)."""
    async with UnitOfWork(tenant_id) as uow:
        blob = await uow.session.get_one(InfoBlob, uuid.UUID(blob_id))
        chunks = [Chunk(id=uuid.uuid4(), tenant_id=tenant_id, group_id=blob.group_id, info_blob_id=blob.id,
                        chunk_index=i, text=f"del {i}", token_count=2, embedding=[0.1] * 384 if model_id else None,
                        embedding_model_id=uuid.UUID(model_id) if model_id else None) for i in range(n)]
        uow.session.add_all(chunks)
        blob.status = InfoBlobStatus.ready if model_id else InfoBlobStatus.embedding
        blob.chunks_total = blob.chunks_embedded = n
        return [c.id for c in chunks]


async def count_chunks(tenant_id: uuid.UUID, **where: Any) -> int:
    async with UnitOfWork(tenant_id) as uow:
        query = select(func.count()).select_from(Chunk).where(Chunk.tenant_id == tenant_id)
        for column, value in where.items():
            query = query.where(getattr(Chunk, column) == value)
        return await uow.session.scalar(query) or 0


def hnsw_indexes(db: Endpoints) -> dict[str, str]:
    engine = create_engine(db.database_migration_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'chunks_hnsw_%'"))
            return {r[0]: r[1] for r in rows}
    finally:
        engine.dispose()


# --- embedding models ------------------------------------------------------------------------------


async def test_every_tenant_has_the_local_model_read_only_and_admins_add_others(
        client: httpx.AsyncClient, team: Team, db: Endpoints) -> None:
    r = await client.get(EMBEDDING_MODELS, headers=team.viewer.headers)
    assert r.status_code == 200, r.text
    local, multilingual = r.json()["items"]
    assert (local["name"], local["dimensions"], local["managed"], local["is_default"], local["provider_id"]) == (
        "all-MiniLM-L6-v2", 384, True, True, None)
    # The built-in model for Swedish (and other languages) is offered too, never the first default.
    assert (multilingual["name"], multilingual["dimensions"], multilingual["max_input_tokens"],
            multilingual["managed"], multilingual["is_default"]) == ("multilingual-e5-small", 384, 512, True, False)

    provider = await add_provider(client, team.admin)
    body = {"provider_id": provider, "name": "nomic-embed-text", "dimensions": 768}
    assert (await client.post(EMBEDDING_MODELS, json=body, headers=team.editor.headers)).status_code == 403
    r = await client.post(EMBEDDING_MODELS, json=body, headers=team.admin.headers)
    assert r.status_code == 201, r.text
    made = r.json()
    assert (made["dimensions"], made["managed"], made["is_default"]) == (768, False, False)
    # Its own HNSW index, over exactly its vectors, with its dimension.
    index = hnsw_indexes(db)[f"chunks_hnsw_{uuid.UUID(made['id']).hex}"]
    assert "vector(768)" in index and made["id"] in index and "hnsw" in index
    r = await client.post(EMBEDDING_MODELS, json=body, headers=team.admin.headers)
    assert (r.status_code, r.json()["code"]) == (409, "embedding_model_name_taken")

    # Anthropic has no embeddings endpoint.
    r = await client.post(EMBEDDING_MODELS, headers=team.admin.headers,
                          json={**body, "provider_id": await add_provider(client, team.admin, "anthropic")})
    assert r.status_code == 422 and "anthropic" in r.json()["message"]

    # The local model: enabled and default may change, nothing else; it cannot be deleted.
    r = await client.patch(f"{EMBEDDING_MODELS}{local['id']}/", json={"max_input_tokens": 512},
                           headers=team.admin.headers)
    assert (r.status_code, r.json()["code"]) == (409, "managed_embedding_model")
    r = await client.patch(f"{EMBEDDING_MODELS}{made['id']}/", json={"is_default": True}, headers=team.admin.headers)
    assert r.status_code == 200 and r.json()["is_default"]
    r = await client.get(f"{EMBEDDING_MODELS}{local['id']}/", headers=team.admin.headers)
    assert r.json()["is_default"] is False  # one default per tenant
    r = await client.patch(f"{EMBEDDING_MODELS}{local['id']}/", json={"enabled": False}, headers=team.admin.headers)
    assert r.status_code == 200 and r.json()["enabled"] is False
    assert [m["id"] for m in (await client.get(EMBEDDING_MODELS, headers=team.viewer.headers)).json()["items"]] == [
        multilingual["id"], made["id"]]
    assert (await client.get(f"{EMBEDDING_MODELS}{local['id']}/", headers=team.viewer.headers)).status_code == 404
    r = await client.delete(f"{EMBEDDING_MODELS}{local['id']}/", headers=team.admin.headers)
    assert (r.status_code, r.json()["code"]) == (409, "managed_embedding_model")

    # Other tenants see none of it.
    assert (await client.get(f"{EMBEDDING_MODELS}{made['id']}/", headers=team.stranger.headers)).status_code == 404
    for method, body_ in (("DELETE", None), ("PATCH", {"enabled": False})):
        r = await client.request(method, f"{EMBEDDING_MODELS}{made['id']}/", json=body_,
                                 headers=team.stranger.headers)
        assert r.status_code == 404
    assert made["id"] not in [m["id"] for m in (await client.get(
        f"{EMBEDDING_MODELS}?include_disabled=true", headers=team.stranger.headers)).json()["items"]]


async def test_a_model_in_use_cannot_be_deleted_and_a_deleted_one_takes_its_index(
        client: httpx.AsyncClient, team: Team, db: Endpoints) -> None:
    provider = await add_provider(client, team.admin)
    r = await client.post(EMBEDDING_MODELS, headers=team.admin.headers,
                          json={"provider_id": provider, "name": "bge-m3", "dimensions": 1024})
    model = r.json()["id"]
    group = await make_group(client, team, embedding_model_id=model)
    assert group["embedding_model_id"] == model
    r = await client.delete(f"{EMBEDDING_MODELS}{model}/", headers=team.admin.headers)
    assert (r.status_code, r.json()["code"]) == (409, "embedding_model_in_use")
    assert "1 collection" in r.json()["message"]
    assert (await client.delete(f"/api/v1/groups/{group['id']}/", headers=team.editor.headers)).status_code == 204
    assert (await client.delete(f"{EMBEDDING_MODELS}{model}/", headers=team.admin.headers)).status_code == 204
    assert f"chunks_hnsw_{uuid.UUID(model).hex}" not in hnsw_indexes(db)
    # A provider still carrying embedding models cannot be deleted either.
    r = await client.post(EMBEDDING_MODELS, headers=team.admin.headers,
                          json={"provider_id": provider, "name": "bge-small", "dimensions": 384})
    assert r.status_code == 201
    r = await client.delete(f"/api/v1/admin/model-providers/{provider}/", headers=team.admin.headers)
    assert r.status_code == 409


# --- collections -----------------------------------------------------------------------------------


async def test_members_read_collections_editors_change_them_others_get_404(
        client: httpx.AsyncClient, team: Team) -> None:
    group = await make_group(client, team, description="Skolans riktlinjer")
    [local] = [m for m in (await client.get(EMBEDDING_MODELS, headers=team.viewer.headers)).json()["items"]
               if m["name"] == "all-MiniLM-L6-v2"]
    assert group["embedding_model_id"] == local["id"]  # the tenant's default
    assert (group["documents"], group["created_by"], group["space_id"]) == (0, str(team.editor.id), team.space)
    path = f"/api/v1/groups/{group['id']}/"

    for who in (team.viewer, team.editor, team.admin):
        assert (await client.get(path, headers=who.headers)).status_code == 200
        assert [g["id"] for g in (await client.get(team.groups(), headers=who.headers)).json()["items"]] == [
            group["id"]]
    r = await client.post(team.groups(), json={"name": "X"}, headers=team.viewer.headers)
    assert (r.status_code, r.json()["code"]) == (403, "space_role_required")
    r = await client.patch(path, json={"name": "X"}, headers=team.viewer.headers)
    assert (r.status_code, r.json()["code"]) == (403, "space_role_required")
    assert (await client.delete(path, headers=team.viewer.headers)).status_code == 403

    for who in (team.outsider, team.stranger):
        assert (await client.get(path, headers=who.headers)).status_code == 404
        assert (await client.get(team.groups(), headers=who.headers)).status_code == 404
        assert (await client.patch(path, json={"name": "X"}, headers=who.headers)).status_code == 404
        assert (await client.delete(path, headers=who.headers)).status_code == 404
        assert (await client.get(f"{path}info-blobs/", headers=who.headers)).status_code == 404

    r = await client.patch(path, json={"name": "Nya riktlinjer", "description": ""}, headers=team.editor.headers)
    assert r.status_code == 200 and (r.json()["name"], r.json()["description"]) == ("Nya riktlinjer", "")
    r = await client.post(team.groups(), json={"name": "Y", "embedding_model_id": str(uuid.uuid4())},
                          headers=team.editor.headers)
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "embedding_model_id"
    assert (await client.delete(path, headers=team.admin.headers)).status_code == 204
    assert (await client.get(path, headers=team.admin.headers)).status_code == 404


async def test_readable_group_ids_keeps_only_the_callers_spaces(client: httpx.AsyncClient, team: Team) -> None:
    mine = (await make_group(client, team))["id"]
    theirs_space = (await client.post("/api/v1/spaces/", json={"name": "Annat"},
                                      headers=team.stranger.headers)).json()["id"]
    r = await client.post(f"/api/v1/spaces/{theirs_space}/knowledge/groups/", json={"name": "Deras"},
                          headers=team.stranger.headers)
    theirs = r.json()["id"]
    ids = [uuid.UUID(theirs), uuid.UUID(mine), uuid.uuid4()]

    async def readable(member: Member) -> list[uuid.UUID]:
        p = Principal(member.id, member.tenant_id, member.email, UserRole.user, "token")
        async with UnitOfWork(member.tenant_id) as uow:
            return await readable_group_ids(uow.session, p, ids)

    assert await readable(team.viewer) == [uuid.UUID(mine)]
    assert await readable(team.outsider) == []
    assert await readable(team.stranger) == [uuid.UUID(theirs)]


# --- documents -------------------------------------------------------------------------------------


async def test_deleting_a_document_removes_its_object_chunks_and_vectors(
        client: httpx.AsyncClient, team: Team, knowledge_env: Storage) -> None:
    group = await make_group(client, team)
    blob = await upload_text(client, group["id"], team.editor)
    other = await upload_text(client, group["id"], team.editor, "Något annat.")
    await add_chunks(team.admin.tenant_id, blob["id"], 3, group["embedding_model_id"])
    await add_chunks(team.admin.tenant_id, other["id"], 2, group["embedding_model_id"])
    key = f"tenants/{team.admin.tenant_id}/groups/{group['id']}/blobs/{blob['id']}"
    assert key in knowledge_env.object_keys()

    path = f"/api/v1/info-blobs/{blob['id']}/"
    assert (await client.delete(path, headers=team.viewer.headers)).status_code == 403
    assert (await client.delete(path, headers=team.stranger.headers)).status_code == 404
    assert (await client.delete(path, headers=team.editor.headers)).status_code == 204
    assert (await client.get(path, headers=team.editor.headers)).status_code == 404
    assert key not in knowledge_env.object_keys()
    assert await count_chunks(team.admin.tenant_id, info_blob_id=uuid.UUID(blob["id"])) == 0
    assert await count_chunks(team.admin.tenant_id, info_blob_id=uuid.UUID(other["id"])) == 2

    # The collection goes with all its documents and files.
    assert (await client.delete(f"/api/v1/groups/{group['id']}/", headers=team.editor.headers)).status_code == 204
    assert knowledge_env.object_keys(f"tenants/{team.admin.tenant_id}/") == []
    assert await count_chunks(team.admin.tenant_id) == 0


async def test_documents_are_listed_read_and_renamed_by_role(client: httpx.AsyncClient, team: Team) -> None:
    group = await make_group(client, team)
    made = [await upload_text(client, group["id"], team.editor, f"Dokument {i}", f"d{i}.txt") for i in range(3)]
    base = f"/api/v1/groups/{group['id']}/info-blobs/"
    r = await client.get(f"{base}?limit=2", headers=team.viewer.headers)
    page = r.json()
    assert [b["id"] for b in page["items"]] == [b["id"] for b in made[:2]] and page["next_cursor"]
    r = await client.get(f"{base}?limit=2&cursor={page['next_cursor']}", headers=team.viewer.headers)
    assert [b["id"] for b in r.json()["items"]] == [made[2]["id"]] and r.json()["next_cursor"] is None
    r = await client.get(f"{base}?status=ready", headers=team.viewer.headers)
    assert r.json()["items"] == []
    assert (await client.get(f"/api/v1/groups/{group['id']}/", headers=team.viewer.headers)).json()["documents"] == 3

    path = f"/api/v1/info-blobs/{made[0]['id']}/"
    assert (await client.get(path, headers=team.viewer.headers)).json()["title"] == "d0.txt"
    r = await client.patch(path, json={"title": "Läsårstider"}, headers=team.viewer.headers)
    assert (r.status_code, r.json()["code"]) == (403, "space_role_required")
    r = await client.patch(path, json={"title": "  Läsårstider "}, headers=team.editor.headers)
    assert r.status_code == 200 and r.json()["title"] == "Läsårstider"
    for who in (team.outsider, team.stranger):
        assert (await client.get(path, headers=who.headers)).status_code == 404
        assert (await client.patch(path, json={"title": "x"}, headers=who.headers)).status_code == 404


async def test_a_passage_index_past_what_a_chunk_can_have_is_a_422_not_a_500(client: httpx.AsyncClient,
                                                                                team: Team) -> None:
    # Found by the API probe (tests/integration/test_api_fuzz.py): the index reached Postgres as an integer.
    blob = await upload_text(client, (await make_group(client, team))["id"], team.editor)
    for index in (2**31, 10**40):
        r = await client.get(f"/api/v1/info-blobs/{blob['id']}/chunks/{index}/", headers=team.viewer.headers)
        assert (r.status_code, r.json()["code"], r.json()["details"][0]["field"]) == (
            422, "validation_error", "chunk_index"), r.text
    r = await client.get(f"/api/v1/info-blobs/{blob['id']}/chunks/{2**31 - 1}/", headers=team.viewer.headers)
    assert (r.status_code, r.json()["message"]) == (404, "Passage not found"), r.text


async def test_members_read_the_text_a_document_became_a_page_of_chunks_at_a_time(
        client: httpx.AsyncClient, team: Team) -> None:
    group = await make_group(client, team)
    blob = await upload_text(client, group["id"], team.editor)
    path = f"/api/v1/info-blobs/{blob['id']}/chunks/"
    r = await client.get(path, headers=team.viewer.headers)
    assert r.status_code == 200 and r.json() == {"items": [], "next_cursor": None}  # not ingested yet

    ids = await add_chunks(team.admin.tenant_id, blob["id"], 5, group["embedding_model_id"])
    seen: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(3):
        r = await client.get(f"{path}?limit=2{'&cursor=' + cursor if cursor else ''}", headers=team.viewer.headers)
        assert r.status_code == 200, r.text
        seen += r.json()["items"]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert [c["chunk_index"] for c in seen] == [0, 1, 2, 3, 4] and cursor is None
    assert [c["id"] for c in seen] == [str(i) for i in ids]
    assert seen[3]["text"] == "del 3" and seen[3]["embedded"] is True and seen[3]["page"] is None

    r = await client.get(f"{path}?cursor=bm90LWEtY3Vyc29y", headers=team.viewer.headers)
    assert (r.status_code, r.json()["code"]) == (400, "invalid_cursor")
    for who in (team.outsider, team.stranger):
        assert (await client.get(path, headers=who.headers)).status_code == 404
    assert (await client.get(f"/api/v1/info-blobs/{uuid.uuid4()}/chunks/", headers=team.viewer.headers)
            ).status_code == 404


async def test_a_new_embedding_model_clears_the_vectors_and_queues_every_chunk(
        client: httpx.AsyncClient, team: Team, knowledge_env: Storage) -> None:
    group = await make_group(client, team)
    old_model = group["embedding_model_id"]
    blobs = [await upload_text(client, group["id"], team.editor, f"Text {i}", f"t{i}.txt") for i in range(2)]
    chunk_ids = [await add_chunks(team.admin.tenant_id, blobs[0]["id"], 40, old_model),
                 await add_chunks(team.admin.tenant_id, blobs[1]["id"], 3, old_model)]
    provider = await add_provider(client, team.admin)
    r = await client.post(EMBEDDING_MODELS, headers=team.admin.headers,
                          json={"provider_id": provider, "name": "e5", "dimensions": 16})
    new_model = r.json()["id"]

    r = await client.patch(f"/api/v1/groups/{group['id']}/", json={"embedding_model_id": new_model},
                           headers=team.editor.headers)
    assert r.status_code == 200 and r.json()["embedding_model_id"] == new_model
    # No vector of the old model is left in the collection.
    assert await count_chunks(team.admin.tenant_id, embedding_model_id=uuid.UUID(old_model)) == 0
    async with UnitOfWork(team.admin.tenant_id) as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Chunk).where(
            Chunk.group_id == uuid.UUID(group["id"]), Chunk.embedding.is_not(None))) == 0
    for blob in blobs:
        got = (await client.get(f"/api/v1/info-blobs/{blob['id']}/", headers=team.viewer.headers)).json()
        assert (got["status"], got["chunks_embedded"], got["embedding_model_id"]) == ("embedding", 0, new_model)
    # An embedding of the old model that finishes now is not written (the collection moved on).
    async with UnitOfWork(team.admin.tenant_id) as uow:
        stale = await uow.session.execute(update(Chunk).where(Chunk.id == chunk_ids[1][0]).values(
            embedding=[0.2] * 384, embedding_model_id=uuid.UUID(old_model)))
        assert stale.rowcount == 0  # type: ignore[attr-defined]
        fresh = await uow.session.execute(update(Chunk).where(Chunk.id == chunk_ids[1][1]).values(
            embedding=[0.2] * 16, embedding_model_id=uuid.UUID(new_model)))
        assert fresh.rowcount == 1  # type: ignore[attr-defined]
    messages = knowledge_env.messages(knowledge_env.embed_queue)
    batch = get_settings().embed_batch_size
    assert all(len(m["chunk_ids"]) <= batch and m["embedding_model_id"] == new_model
               and m["tenant_id"] == str(team.admin.tenant_id) for m in messages)
    for blob, ids in zip(blobs, chunk_ids, strict=True):
        sent = [c for m in messages if m["blob_id"] == blob["id"] for c in m["chunk_ids"]]
        assert sorted(sent) == sorted(str(c) for c in ids)
    # A disabled model or another tenant's cannot be chosen.
    r = await client.patch(f"/api/v1/groups/{group['id']}/", json={"embedding_model_id": str(uuid.uuid4())},
                           headers=team.editor.headers)
    assert r.status_code == 422


async def test_retry_starts_a_failed_document_over(client: httpx.AsyncClient, team: Team,
                                                   knowledge_env: Storage) -> None:
    group = await make_group(client, team)
    blob = await upload_text(client, group["id"], team.editor)
    path = f"/api/v1/info-blobs/{blob['id']}/retry/"
    async with UnitOfWork(team.admin.tenant_id) as uow:
        await uow.session.execute(update(InfoBlob).where(InfoBlob.id == uuid.UUID(blob["id"])).values(
            status=InfoBlobStatus.ready))
    r = await client.post(path, headers=team.editor.headers)
    assert (r.status_code, r.json()["code"]) == (409, "not_failed")  # only a ready one cannot be retried
    await add_chunks(team.admin.tenant_id, blob["id"], 2)
    async with UnitOfWork(team.admin.tenant_id) as uow:
        await uow.session.execute(update(InfoBlob).where(InfoBlob.id == uuid.UUID(blob["id"])).values(
            status=InfoBlobStatus.failed, error_code="embedding_failed", error_message="The provider refused",
            attempts=3))
    assert (await client.post(path, headers=team.viewer.headers)).status_code == 403
    assert (await client.post(path, headers=team.stranger.headers)).status_code == 404
    r = await client.post(path, headers=team.editor.headers)
    assert r.status_code == 202, r.text
    got = r.json()
    assert (got["status"], got["error_code"], got["error_message"], got["chunks_total"]) == (
        "queued", None, None, 0)
    assert await count_chunks(team.admin.tenant_id, info_blob_id=uuid.UUID(blob["id"])) == 0
    assert knowledge_env.messages(knowledge_env.ingest_queue) == [
        {"retry": {"tenant_id": str(team.admin.tenant_id), "blob_id": blob["id"]}}]
    # The uploader hears of it on their events stream (relayed over the WebSocket).
    entries = await get_redis().xrange(f"events:{team.editor.id}")
    fields = entries[-1][1]
    assert fields[b"type"] == b"info_blob.status"
    assert json.loads(fields[b"data"]) == {
        "id": blob["id"], "group_id": group["id"], "title": "info.txt", "status": "queued", "error_code": None,
        "error_message": None, "chunks_total": 0, "chunks_embedded": 0}
    assert 0 < await get_redis().ttl(f"events:{team.editor.id}") <= get_settings().events_stream_ttl_seconds


# --- spaces ----------------------------------------------------------------------------------------


async def test_deleting_a_space_removes_its_collections_files(client: httpx.AsyncClient, team: Team,
                                                              knowledge_env: Storage, monkeypatch: pytest.MonkeyPatch,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """The rows go by cascade (space -> collections -> documents -> chunks); the files are not rows."""
    tenant = team.admin.tenant_id
    groups = [await make_group(client, team) for _ in range(2)]
    for n, group in enumerate(groups):
        await upload_text(client, group["id"], team.editor, f"Dokument {n}", f"d{n}.txt")
    await upload_text(client, groups[0]["id"], team.editor, "Ett till.", "e.txt")
    other_space = (await client.post("/api/v1/spaces/", json={"name": "Kvar"}, headers=team.admin.headers)).json()
    kept_group = (await client.post(f"/api/v1/spaces/{other_space['id']}/knowledge/groups/", json={"name": "Kvar"},
                                    headers=team.admin.headers)).json()
    kept = await upload_text(client, kept_group["id"], team.admin, "Kvar.", "kvar.txt")
    assert len(knowledge_env.object_keys(f"tenants/{tenant}/")) == 4

    assert (await client.delete(f"/api/v1/spaces/{team.space}/", headers=team.admin.headers)).status_code == 204
    assert knowledge_env.object_keys(f"tenants/{tenant}/") == [
        f"tenants/{tenant}/groups/{kept_group['id']}/blobs/{kept['id']}"]
    for group in groups:
        assert (await client.get(f"/api/v1/groups/{group['id']}/", headers=team.admin.headers)).status_code == 404

    # Storage failing does not fail the delete: the rows are gone, the files are logged by prefix.
    monkeypatch.setenv("DOCUMENTS_BUCKET", f"{knowledge_env.bucket}-gone")
    get_settings.cache_clear()
    r = await client.delete(f"/api/v1/spaces/{other_space['id']}/", headers=team.admin.headers)
    assert r.status_code == 204
    assert knowledge_env.object_keys(f"tenants/{tenant}/") == [
        f"tenants/{tenant}/groups/{kept_group['id']}/blobs/{kept['id']}"]
    logged = [r for r in caplog.records if r.getMessage() == "collection objects not deleted"]
    assert [getattr(r, "prefix", None) for r in logged] == [f"tenants/{tenant}/groups/{kept_group['id']}/"]


async def test_deleting_a_user_removes_their_personal_collections_files(client: httpx.AsyncClient, team: Team,
                                                                       knowledge_env: Storage) -> None:
    """A user's personal space goes with them by cascade; its collections' files must go too."""
    tenant = team.admin.tenant_id
    spaces = (await client.get("/api/v1/spaces/", headers=team.editor.headers)).json()["items"]
    personal = next(s["id"] for s in spaces if s["personal"])
    r = await client.post(f"/api/v1/spaces/{personal}/knowledge/groups/", json={"name": "Mina"},
                          headers=team.editor.headers)
    assert r.status_code == 201, r.text
    mine = await upload_text(client, r.json()["id"], team.editor, "Mina anteckningar.", "mina.txt")
    shared = await upload_text(client, (await make_group(client, team))["id"], team.editor, "Delad.", "delad.txt")
    assert len(knowledge_env.object_keys(f"tenants/{tenant}/")) == 2

    assert (await client.delete(f"/api/v1/users/{team.editor.id}/", headers=team.admin.headers)).status_code == 204
    keys = knowledge_env.object_keys(f"tenants/{tenant}/")
    assert keys == [f"tenants/{tenant}/groups/{shared['group_id']}/blobs/{shared['id']}"]
    assert mine["id"] not in "".join(keys)
