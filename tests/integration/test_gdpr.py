"""A user's data export and erasure (eneo.privacy, functions/privacy) over the real database, Redis and S3:
the export holds all of the user's data and nothing of another's; after erasure nothing about the user is
found through any route, in any table of the tenant, in storage or in Redis; shared documents stay,
de-attributed."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select, text

from eneo.answers.stream import stream_key
from eneo.core.db import UnitOfWork
from eneo.core.redis import get_redis
from eneo.knowledge.models import Chunk, Group, InfoBlob, InfoBlobStatus
from eneo.model_providers.embedding_service import ensure_local_embedding_model
from eneo.models import Base
from eneo.spaces.models import Space
from eneo.users.models import UserRole
from eneo_local.services import Endpoints
from tests.fakes.llm_server import FakeLLMServer
from tests.integration.conftest import PASSWORD, Member, Org
from tests.integration.pipeline import Queues, queues  # noqa: F401 (fixture)
from tests.integration.test_sessions import Chat, make_chat


@dataclass
class Person:
    """A user with everything a user can have: a conversation with feedback, an API key, a document in their
    personal space (file, chunk with a vector) and one in a shared space."""

    member: Member
    question: str
    question_id: str
    session_id: str
    key: str
    key_id: str
    personal_blob: uuid.UUID
    personal_key: str
    personal_bytes: bytes
    shared_blob: uuid.UUID
    shared_bytes: bytes


async def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json() if r.content else None


async def _document(q: Queues, member: Member, space_id: uuid.UUID, data: bytes, name: str) -> tuple[uuid.UUID, str]:
    """A processed document uploaded by `member` into a collection of the space, with one embedded chunk."""
    async with UnitOfWork(member.tenant_id) as uow:
        model = await ensure_local_embedding_model(uow.session, member.tenant_id)
        group = Group(tenant_id=member.tenant_id, space_id=space_id, name=f"Samling {name}", description="",
                      embedding_model_id=model.id, created_by=member.id)
        uow.session.add(group)
        await uow.session.flush()
        blob_id = uuid.uuid4()
        key = f"tenants/{member.tenant_id}/groups/{group.id}/blobs/{blob_id}"
        uow.session.add(InfoBlob(id=blob_id, tenant_id=member.tenant_id, group_id=group.id, uploaded_by=member.id,
                                 title=name, filename=name, declared_type="text/plain", content_type="text/plain",
                                 size_bytes=len(data), object_key=key, status=InfoBlobStatus.ready))
        await uow.session.flush()
        uow.session.add(Chunk(tenant_id=member.tenant_id, group_id=group.id, info_blob_id=blob_id, chunk_index=0,
                              text=data.decode(), token_count=10, embedding=[0.1] * 384, embedding_model_id=model.id))
    q.s3.put_object(Bucket=q.bucket, Key=key, Body=data, ContentType="text/plain")
    return blob_id, key


async def person(client: httpx.AsyncClient, chat: Chat, member: Member, q: Queues, tag: str) -> Person:
    question = f"Hur ansöker jag om färdtjänst? ({tag})"
    asked = await _ok(await client.post(f"/api/v1/assistants/{chat.assistant}/sessions/", headers=member.headers,
                                        json={"question": question, "stream": False}), 201)
    session_id, question_id = asked["session_id"], asked["question"]["id"]
    await get_redis().xadd(stream_key(question_id), {"type": "done"})  # as if its answer had just streamed
    await _ok(await client.post(f"/api/v1/assistants/{chat.assistant}/sessions/{session_id}/feedback/",
                                headers=member.headers,
                                json={"question_id": question_id, "value": -1, "text": f"För kort svar ({tag})"}))
    key = await _ok(await client.post("/api/v1/api-keys/", json={"name": f"skript-{tag}"}, headers=member.headers), 201)
    async with UnitOfWork(member.tenant_id) as uow:
        personal = await uow.session.scalar(select(Space.id).where(Space.owner_id == member.id, Space.personal))
    assert personal is not None
    personal_bytes = f"Mina anteckningar om {tag}".encode()
    personal_blob, personal_key = await _document(q, member, personal, personal_bytes, f"anteckningar-{tag}.txt")
    shared_bytes = f"Delad rutin för hemtjänst ({tag})".encode()
    shared_blob, _ = await _document(q, member, uuid.UUID(chat.space), shared_bytes, f"rutin-{tag}.txt")
    return Person(member, question, question_id, session_id, key["key"], key["id"], personal_blob, personal_key,
                  personal_bytes, shared_blob, shared_bytes)


@pytest.fixture
async def two(client: httpx.AsyncClient, make_user: Callable[..., Any], fake: FakeLLMServer,
              queues: Queues) -> tuple[Chat, Person, Person]:  # noqa: F811
    """A tenant's admin and user, each with a full set of data in the same shared space."""
    fake.reset()
    admin = await make_user()
    chat = await make_chat(client, admin, await make_user(Org(admin.tenant_id, ""), UserRole.user), fake)
    anna = await person(client, chat, chat.viewer, queues, "anna")
    return chat, anna, await person(client, chat, admin, queues, "bo")


async def download(url: str) -> zipfile.ZipFile:
    async with httpx.AsyncClient() as plain:  # no credentials: the link is the authorisation
        r = await plain.get(url)
    assert r.status_code == 200, r.text
    assert "attachment" in r.headers.get("content-disposition", "")
    return zipfile.ZipFile(io.BytesIO(r.content))


async def test_an_export_holds_all_of_the_users_data_and_nothing_of_anothers(
        client: httpx.AsyncClient, two: tuple[Chat, Person, Person]) -> None:
    chat, anna, bo = two
    ready = await _ok(await client.post(f"/api/v1/privacy/users/{anna.member.id}/export/",
                                        headers=anna.member.headers), 201)
    assert ready["documents"] == 2 and ready["size_bytes"] > 0
    archive = await download(ready["url"])
    names = set(archive.namelist())
    manifest = json.loads(archive.read("manifest.json"))
    assert set(manifest["files"]) | {"manifest.json"} == names and manifest["missing_documents"] == []

    user = json.loads(archive.read("user.json"))
    assert (user["id"], user["email"]) == (str(anna.member.id), anna.member.email)
    assert "password_hash" not in user and "invite_token_hash" not in user
    sessions = json.loads(archive.read("sessions.json"))
    assert [(s["id"], [q["question"] for q in s["questions"]]) for s in sessions] == [
        (anna.session_id, [anna.question])]
    assert sessions[0]["questions"][0]["answer"]  # the fake's answer
    feedback = json.loads(archive.read("feedback.json"))
    assert [(f["question_id"], f["value"], f["text"]) for f in feedback] == [
        (anna.question_id, -1, "För kort svar (anna)")]
    keys = json.loads(archive.read("api_keys.json"))
    assert [k["id"] for k in keys] == [anna.key_id] and "key_hash" not in keys[0]
    spaces = {s["id"]: s["role"] for s in json.loads(archive.read("spaces.json"))}
    assert spaces[chat.space] == "viewer" and len(spaces) == 2  # the shared space and the personal one
    documents = {d["id"]: d for d in json.loads(archive.read("documents.json"))}
    assert set(documents) == {str(anna.personal_blob), str(anna.shared_blob)}
    assert archive.read(documents[str(anna.personal_blob)]["file"]) == anna.personal_bytes
    assert archive.read(documents[str(anna.shared_blob)]["file"]) == anna.shared_bytes
    assert json.loads(archive.read("login_sessions.json"))  # the session she logged in with

    everything = b"".join(archive.read(n) for n in names)
    for secret in (anna.key, bo.member.email, bo.question, str(bo.member.id), bo.key, bo.shared_bytes,
                   bo.personal_bytes, "För kort svar (bo)".encode(), str(bo.session_id)):
        assert (secret if isinstance(secret, bytes) else secret.encode()) not in everything, secret

    # Her tenant's admin may export her too; a colleague may not, nor another tenant's admin: 404.
    by_admin = await _ok(await client.post(f"/api/v1/privacy/users/{anna.member.id}/export/",
                                           headers=bo.member.headers), 201)
    assert json.loads((await download(by_admin["url"])).read("user.json"))["email"] == anna.member.email
    r = await client.post(f"/api/v1/privacy/users/{bo.member.id}/export/", headers=anna.member.headers)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")


async def test_another_tenant_cannot_export_or_erase(client: httpx.AsyncClient, make_user: Callable[..., Any],
                                                     two: tuple[Chat, Person, Person]) -> None:
    _, anna, _ = two
    stranger: Member = await make_user()
    for action in ("export", "erasure"):
        r = await client.post(f"/api/v1/privacy/users/{anna.member.id}/{action}/", headers=stranger.headers)
        assert (r.status_code, r.json()["code"]) == (404, "not_found"), r.text
    r = await client.get("/api/v1/users/me/", headers=anna.member.headers)
    assert r.status_code == 200  # nothing happened to her


async def test_only_a_tenant_admin_erases_and_not_themself(client: httpx.AsyncClient,
                                                            two: tuple[Chat, Person, Person]) -> None:
    _, anna, bo = two
    r = await client.post(f"/api/v1/privacy/users/{bo.member.id}/erasure/", headers=anna.member.headers)
    assert (r.status_code, r.json()["code"]) == (403, "permission_required")
    r = await client.post(f"/api/v1/privacy/users/{bo.member.id}/erasure/", headers=bo.member.headers)
    assert (r.status_code, r.json()["code"]) == (409, "cannot_delete_self")


def _tenant_rows_text(db: Endpoints, tenant_id: uuid.UUID, *, only: str | None = None,
                     skip: str | None = None) -> str:
    """Every row of every table (or of `only`, or all but `skip`) that belongs to the tenant, as JSON text
    (read as the owner, past RLS)."""
    engine = create_engine(db.database_migration_url)
    parts = []
    try:
        with engine.connect() as conn:
            for table in Base.metadata.sorted_tables:
                column = "id" if table.name == "tenants" else "tenant_id"
                if column not in table.c or table.name == skip or only not in (None, table.name):
                    continue
                rows = conn.execute(text(f"SELECT to_jsonb(t)::text FROM {table.name} t "  # noqa: S608 - our tables
                                         f"WHERE {column} = :t"), {"t": tenant_id}).scalars().all()
                parts += rows
    finally:
        engine.dispose()
    return "\n".join(parts)


def _tokens(db: Endpoints, tenant_id: uuid.UUID) -> tuple[int, int, int]:
    """The tenant's token counts per day, summed: (input, output, questions)."""
    rows = [json.loads(row) for row in _tenant_rows_text(db, tenant_id, only="token_usage_daily").splitlines()]
    assert rows, "the check below can fail: there are counted tokens"
    return (sum(r["input_tokens"] for r in rows), sum(r["output_tokens"] for r in rows),
            sum(r["questions"] for r in rows))


def _audit_entries(db: Endpoints, tenant_id: uuid.UUID) -> list[dict[str, Any]]:
    return [json.loads(row) for row in _tenant_rows_text(db, tenant_id, only="audit_entries").splitlines()]


async def test_after_erasure_nothing_about_the_user_is_found(
        client: httpx.AsyncClient, two: tuple[Chat, Person, Person], queues: Queues, db: Endpoints) -> None:  # noqa: F811
    chat, anna, bo = two
    redis = get_redis()
    await redis.xadd(f"events:{anna.member.id}", {"type": "blob", "data": "{}"})  # a status event for her browser
    wrong = {"username": anna.member.email, "password": "fel lösenord!"}
    r = await client.post("/api/v1/users/login/token/", data=wrong)
    assert r.status_code == 401  # a failed login: counters keyed by her account
    keys_before = {k.decode() async for k in redis.scan_iter(match="*", count=1000)}
    before = _tenant_rows_text(db, anna.member.tenant_id)
    audit_before = _audit_entries(db, anna.member.tenant_id)
    tokens_before = _tokens(db, anna.member.tenant_id)
    assert str(anna.member.id) in before and anna.member.email in before  # the check below can fail

    erased = await _ok(await client.post(f"/api/v1/privacy/users/{anna.member.id}/erasure/",
                                         headers=bo.member.headers))
    assert erased == {"sessions": 1, "questions": 1, "api_keys": 1, "documents_deleted": 1,
                      "documents_deattributed": 1}
    keys_after = {k.decode() async for k in redis.scan_iter(match="*", count=1000)}  # before the login tried below

    # No credential of hers works, and she cannot log in.
    assert (await client.get("/api/v1/users/me/", headers=anna.member.headers)).status_code == 401
    assert (await client.get("/api/v1/users/me/", headers={"X-API-Key": anna.key})).status_code == 401
    r = await client.post("/api/v1/users/login/token/", data={"username": anna.member.email, "password": PASSWORD})
    assert r.status_code == 401
    # No route finds her: not as a user, member, asker or uploader.
    admin = bo.member.headers
    for path in (f"/api/v1/users/{anna.member.id}/", f"/api/v1/questions/{anna.question_id}/",
                 f"/api/v1/info-blobs/{anna.personal_blob}/"):
        assert (await client.get(path, headers=admin)).status_code == 404, path
    for path in ("/api/v1/users/", f"/api/v1/spaces/{chat.space}/", "/api/v1/api-keys/"):
        body = (await client.get(path, headers=admin)).text
        assert anna.member.email not in body and str(anna.member.id) not in body, path
    for action in ("export", "erasure"):
        assert (await client.post(f"/api/v1/privacy/users/{anna.member.id}/{action}/",
                                  headers=admin)).status_code == 404
    # The shared document stays, de-attributed; her personal one is gone with its file and vector.
    shared = await _ok(await client.get(f"/api/v1/info-blobs/{anna.shared_blob}/", headers=admin))
    assert shared["title"] == "rutin-anna.txt"
    async with UnitOfWork(anna.member.tenant_id) as uow:
        kept = await uow.session.get(InfoBlob, anna.shared_blob)
        assert kept is not None and kept.uploaded_by is None
        assert await uow.session.scalar(select(Chunk.id).where(Chunk.info_blob_id == anna.personal_blob)) is None
    assert "Contents" not in queues.s3.list_objects_v2(Bucket=queues.bucket, Prefix=anna.personal_key)
    assert not await redis.exists(stream_key(anna.question_id))
    assert f"events:{anna.member.id}" in keys_before and f"events:{anna.member.id}" not in keys_after
    dropped = keys_before - keys_after
    assert any(k.startswith("login:acct:") for k in dropped) and any(k.startswith("login:pair:") for k in dropped)
    assert not [k for k in keys_after if str(anna.member.id) in k]
    # And no row of the tenant, in any table, names her; the audit log keeps her entries, pseudonymised: her id
    # stays as an opaque key (the row it pointed at is gone), her e-mail is gone from every label.
    after = _tenant_rows_text(db, anna.member.tenant_id, skip="audit_entries")
    assert str(anna.member.id) not in after and anna.member.email not in after
    assert anna.question not in after and "anteckningar-anna" not in after
    audit = _audit_entries(db, anna.member.tenant_id)
    about_her = [e for e in audit if str(anna.member.id) in (e["actor_id"], e["target_id"])]
    assert {e["action"] for e in about_her} >= {"auth.login", "user.erasure"}, about_her
    assert anna.member.email not in json.dumps(audit) and anna.question not in json.dumps(audit)
    for entry in about_her:
        who = entry["actor_label"] if entry["actor_id"] == str(anna.member.id) else entry["target_label"]
        assert who in ("erased user", None), entry
    assert _tokens(db, anna.member.tenant_id) == tokens_before  # her tokens still count, under nobody's name
    others_before = [e for e in audit_before if str(anna.member.id) not in (e["actor_id"], e["target_id"])
                     and anna.member.email not in (e["actor_label"], e["target_label"])]
    assert others_before and all(e in audit for e in others_before)  # entries about others are untouched
    # Bo's data is untouched.
    assert (await client.get(f"/api/v1/questions/{bo.question_id}/", headers=admin)).status_code == 200
    assert (await client.get("/api/v1/users/me/", headers={"X-API-Key": bo.key})).status_code == 200
    assert await get_redis().exists(stream_key(bo.question_id))
