"""The audit log through the functions: an entry for every security and admin action, none for reads; only a
tenant's admins read it, and only their tenant's; entries are append-only for the functions' database role
and for everyone else until their retention period is over."""

import csv
import io
import json
import os
import subprocess
import sys
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError, ProgrammingError

from eneo.audit.service import purge_expired
from eneo.core.db import UnitOfWork
from eneo.users.models import UserRole
from eneo_local.services import Endpoints
from tests.integration.conftest import PASSWORD, ROOT, Member, Org
from tests.integration.test_knowledge import Storage, knowledge_env  # noqa: F401 - a fixture

LOGS = "/api/v1/audit/logs/"
SUPER = {"X-API-Key": "test-super-key-0123456789abcdef0123456789"}
PROVIDER_KEY = f"sk-audit-{uuid.uuid4().hex}"


async def entries(client: httpx.AsyncClient, admin: Member, **query: Any) -> list[dict[str, Any]]:
    """Every entry the admin's tenant has (all pages), newest first."""
    found, cursor = [], None
    while True:
        r = await client.get(LOGS, params={**query, "limit": 200, **({"cursor": cursor} if cursor else {})},
                             headers=admin.headers)
        assert r.status_code == 200, r.text
        found += r.json()["items"]
        if not (cursor := r.json()["next_cursor"]):
            return found


async def ok(response: Any, status: int) -> dict[str, Any]:
    r = await response
    assert r.status_code == status, r.text
    return r.json() if r.content else {}


async def test_every_listed_action_is_recorded_with_who_what_where_and_no_secret(
        client: httpx.AsyncClient, make_user: Any, knowledge_env: Storage) -> None:  # noqa: F811
    admin = await make_user()
    org = Org(admin.tenant_id, "")
    other = await make_user(org, UserRole.user)
    c, h = client, admin.headers

    # Sign-ins: a wrong password, then a good one.
    await ok(c.post("/api/v1/users/login/token/", data={"username": other.email, "password": "wrong password!"}), 401)
    await ok(c.post("/api/v1/users/login/token/", data={"username": other.email, "password": PASSWORD}), 200)
    await ok(c.post("/api/v1/users/me/password/", headers=other.headers,
                    json={"current_password": "not my password", "new_password": "another long passphrase 9"}), 401)
    # Keys.
    key = await ok(c.post("/api/v1/api-keys/", json={"name": "nightly export"}, headers=h), 201)
    await ok(c.delete(f"/api/v1/api-keys/{key['id']}/", headers=h), 200)
    # Users and roles.
    invited = await ok(c.post("/api/v1/users/", json={"email": f"new-{uuid.uuid4().hex[:6]}@example.org",
                                                        "name": "New"}, headers=h), 201)
    await ok(c.patch(f"/api/v1/users/{other.id}/", json={"role": "admin"}, headers=h), 200)
    await ok(c.post(f"/api/v1/users/{invited['id']}/invitation/", headers=h), 201)
    await ok(c.delete(f"/api/v1/users/{invited['id']}/", headers=h), 204)
    # Spaces and members.
    space = await ok(c.post("/api/v1/spaces/", json={"name": "Miljö"}, headers=h), 201)
    await ok(c.patch(f"/api/v1/spaces/{space['id']}/", json={"description": "x"}, headers=h), 200)
    await ok(c.post(f"/api/v1/spaces/{space['id']}/members/", json={"email": other.email, "role": "viewer"},
                    headers=h), 201)
    await ok(c.patch(f"/api/v1/spaces/{space['id']}/members/{other.id}/", json={"role": "editor"}, headers=h), 200)
    await ok(c.delete(f"/api/v1/spaces/{space['id']}/members/{other.id}/", headers=h), 204)
    # Models and credentials.
    provider = await ok(c.post("/api/v1/admin/model-providers/", headers=h, json={
        "name": "Lokal", "type": "openai_compatible", "base_url": "http://127.0.0.1:9/v1", "api_key": PROVIDER_KEY}),
        201)
    await ok(c.patch(f"/api/v1/admin/model-providers/{provider['id']}/", json={"api_key": PROVIDER_KEY + "2"},
                     headers=h), 200)
    model = await ok(c.post("/api/v1/completion-models/", headers=h, json={
        "provider_id": provider["id"], "name": "m", "context_window": 2048}), 201)
    await ok(c.patch(f"/api/v1/completion-models/{model['id']}/", json={"enabled": False}, headers=h), 200)
    await ok(c.delete(f"/api/v1/completion-models/{model['id']}/", headers=h), 204)
    embedder = await ok(c.post("/api/v1/embedding-models/", headers=h, json={
        "provider_id": provider["id"], "name": "e", "dimensions": 8}), 201)
    await ok(c.patch(f"/api/v1/embedding-models/{embedder['id']}/", json={"enabled": False}, headers=h), 200)
    await ok(c.delete(f"/api/v1/embedding-models/{embedder['id']}/", headers=h), 204)
    whisper = await ok(c.post("/api/v1/transcription-models/", headers=h, json={
        "provider_id": provider["id"], "name": "w"}), 201)
    await ok(c.patch(f"/api/v1/transcription-models/{whisper['id']}/", json={"enabled": False}, headers=h), 200)
    await ok(c.delete(f"/api/v1/transcription-models/{whisper['id']}/", headers=h), 204)
    await ok(c.delete(f"/api/v1/admin/model-providers/{provider['id']}/", headers=h), 204)
    # Collections and documents.
    group = await ok(c.post(f"/api/v1/spaces/{space['id']}/knowledge/groups/", json={"name": "Tillstånd"},
                            headers=h), 201)
    await ok(c.patch(f"/api/v1/groups/{group['id']}/", json={"description": "d"}, headers=h), 200)
    doc = await ok(c.post(f"/api/v1/groups/{group['id']}/info-blobs/upload/", headers=h,
                          files={"file": ("miljotillstand.txt", b"Hemlig text om tillstand.", "text/plain")}), 202)
    presigned = await ok(c.post(f"/api/v1/groups/{group['id']}/info-blobs/upload-url/", headers=h, json={
        "filename": "b.txt", "content_type": "text/plain", "size_bytes": 10}), 201)
    await ok(c.delete(f"/api/v1/info-blobs/{doc['id']}/", headers=h), 204)
    await ok(c.delete(f"/api/v1/groups/{group['id']}/", headers=h), 204)
    await ok(c.delete(f"/api/v1/spaces/{space['id']}/", headers=h), 204)
    # Settings of the tenant, by the operator.
    await ok(c.patch(f"/api/v1/sysadmin/tenants/{admin.tenant_id}/", json={"audit_retention_days": 400},
                     headers=SUPER), 200)

    log = await entries(c, admin)
    actions = [(e["action"], e["outcome"]) for e in reversed(log)]
    assert actions == [
        ("auth.login", "success"),  # make_user's logins: the admin's, then the other user's
        ("auth.login", "success"),
        ("auth.login", "failure"),
        ("auth.login", "success"),
        ("auth.password_changed", "failure"),
        ("api_key.created", "success"), ("api_key.revoked", "success"),
        ("user.created", "success"), ("user.updated", "success"), ("user.invited", "success"),
        ("user.deleted", "success"),
        ("space.created", "success"), ("space.updated", "success"), ("space.member_added", "success"),
        ("space.member_role_changed", "success"), ("space.member_removed", "success"),
        ("model_provider.created", "success"), ("model_provider.updated", "success"),
        ("completion_model.created", "success"), ("completion_model.updated", "success"),
        ("completion_model.deleted", "success"),
        ("embedding_model.created", "success"), ("embedding_model.updated", "success"),
        ("embedding_model.deleted", "success"),
        ("transcription_model.created", "success"), ("transcription_model.updated", "success"),
        ("transcription_model.deleted", "success"), ("model_provider.deleted", "success"),
        ("collection.created", "success"), ("collection.updated", "success"),
        ("document.created", "success"), ("document.created", "success"), ("document.deleted", "success"),
        ("collection.deleted", "success"), ("space.deleted", "success"),
        ("tenant.updated", "success"),
    ]
    by_action = {e["action"]: e for e in log}  # the newest of each
    failed = next(e for e in log if e["action"] == "auth.login" and e["outcome"] == "failure")
    assert (failed["actor_type"], failed["target_id"], failed["details"]) == (
        "anonymous", str(other.id), {"code": "invalid_credentials"})
    assert failed["source_ip"].startswith("198.18.")  # the client fixture's address
    revoked = by_action["api_key.revoked"]
    assert (revoked["actor_id"], revoked["actor_label"], revoked["target_id"], revoked["target_label"]) == (
        str(admin.id), admin.email, key["id"], "nightly export")
    assert by_action["user.updated"]["details"] == {"changed": ["role"], "role": "admin"}
    assert by_action["space.member_role_changed"]["details"]["role"] == "editor"
    assert by_action["model_provider.updated"]["details"] == {"changed": ["api_key"]}
    assert by_action["tenant.updated"]["actor_type"] == "sysadmin"
    assert by_action["tenant.updated"]["details"] == {"changed": ["audit_retention_days"],
                                                      "audit_retention_days": 400}
    documents = [e for e in log if e["action"] == "document.created"]
    assert {e["target_id"] for e in documents} == {doc["id"], presigned["blob"]["id"]}
    assert all(e["request_id"] for e in log)
    # Never a secret or content: not the provider's key, not a password, not the document's text.
    everything = json.dumps(log)
    for secret in (PROVIDER_KEY, PASSWORD, "wrong password!", "Hemlig text", key["key"], "not my password"):
        assert secret not in everything


async def test_reads_are_not_recorded(client: httpx.AsyncClient, make_user: Any) -> None:
    admin = await make_user()
    space = (await client.post("/api/v1/spaces/", json={"name": "S"}, headers=admin.headers)).json()
    before = await entries(client, admin)
    for path in ("/api/v1/users/me/", "/api/v1/users/", f"/api/v1/users/{admin.id}/", "/api/v1/spaces/",
                 f"/api/v1/spaces/{space['id']}/", "/api/v1/api-keys/", "/api/v1/admin/model-providers/",
                 "/api/v1/completion-models/", "/api/v1/embedding-models/", "/api/v1/transcription-models/",
                 f"/api/v1/spaces/{space['id']}/knowledge/groups/", "/api/v1/assistants/", LOGS):
        assert (await client.get(path, headers=admin.headers)).status_code == 200, path
    assert await entries(client, admin) == before


async def test_only_the_tenants_admins_read_their_own_log(client: httpx.AsyncClient, make_user: Any) -> None:
    admin = await make_user()
    user = await make_user(Org(admin.tenant_id, ""), UserRole.user)
    stranger = await make_user()  # another tenant's admin
    for who in (user,):
        for path in (LOGS, f"{LOGS}export/"):
            r = await client.get(path, headers=who.headers)
            assert (r.status_code, r.json()["code"]) == (403, "permission_required")
    assert (await client.get(LOGS)).status_code == 401
    theirs = await entries(client, stranger)
    assert theirs and all(e["actor_id"] != str(admin.id) and e["target_id"] != str(user.id) for e in theirs)
    exported = (await client.get(f"{LOGS}export/", params={"format": "jsonl"}, headers=stranger.headers)).text
    assert str(admin.id) not in exported and user.email not in exported


async def test_filters_and_cursor_pages(client: httpx.AsyncClient, make_user: Any) -> None:
    admin = await make_user()
    for n in range(5):
        await client.post("/api/v1/api-keys/", json={"name": f"k{n}"}, headers=admin.headers)
    await client.post("/api/v1/users/login/token/", data={"username": admin.email, "password": "nope nope nope"})
    keys = await entries(client, admin, action="api_key.created")
    assert [e["target_label"] for e in keys] == ["k4", "k3", "k2", "k1", "k0"]  # newest first
    assert [e["outcome"] for e in await entries(client, admin, action="auth.")] == ["failure", "success"]
    assert len(await entries(client, admin, outcome="failure")) == 1
    assert await entries(client, admin, actor_id=str(uuid.uuid4())) == []
    assert len(await entries(client, admin, target_type="api_key")) == 5
    pages, cursor = [], None
    while True:
        r = (await client.get(LOGS, params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                              headers=admin.headers)).json()
        pages.append([e["id"] for e in r["items"]])
        if not (cursor := r["next_cursor"]):
            break
    assert [len(p) for p in pages] == [2, 2, 2, 1]
    assert [i for p in pages for i in p] == [e["id"] for e in await entries(client, admin)]
    first = keys[-1]["created_at"]
    assert len(await entries(client, admin, action="api_key.created", until=first)) == 0
    assert len(await entries(client, admin, action="api_key.created", since=first)) == 5
    for bad, code in (({"cursor": "nonsense"}, "invalid_cursor"),
                      ({"since": "2026-01-01T00:00:00"}, "validation_error"),
                      ({"action": "DROP TABLE"}, "validation_error"), ({"outcome": "maybe"}, "validation_error")):
        r = await client.get(LOGS, params=bad, headers=admin.headers)
        assert r.status_code in (400, 422) and r.json()["code"] == code, (bad, r.text)


async def test_export_streams_csv_and_jsonl_and_is_itself_recorded(client: httpx.AsyncClient, make_user: Any) -> None:
    admin = await make_user()
    await client.post("/api/v1/api-keys/", json={"name": "=HYPERLINK(\"http://evil\")"}, headers=admin.headers)
    listed = await entries(client, admin)
    r = await client.get(f"{LOGS}export/", params={"format": "csv"}, headers=admin.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith("attachment; filename=\"audit-")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows[0]["action"] == "audit.exported"  # committed before the rows are read: the export has itself
    assert [row["id"] for row in rows[1:]] == [e["id"] for e in listed]
    assert rows[1]["target_label"] == "'=HYPERLINK(\"http://evil\")"  # a spreadsheet shows it, never runs it
    r = await client.get(f"{LOGS}export/", params={"format": "jsonl", "action": "api_key.created"},
                         headers=admin.headers)
    lines = [json.loads(line) for line in r.text.splitlines()]
    assert [(e["action"], e["target_label"]) for e in lines] == [("api_key.created", "=HYPERLINK(\"http://evil\")")]
    # Each line is the list's entry, field for field (ISO 8601 times: a JSON reader parses both alike).
    assert lines == [e for e in listed if e["action"] == "api_key.created"]
    exports = await entries(client, admin, action="audit.exported")
    assert [e["details"] for e in exports] == [{"format": "jsonl", "action": "api_key.created"}, {"format": "csv"}]


async def test_functions_role_cannot_change_or_delete_entries(client: httpx.AsyncClient, make_user: Any) -> None:
    admin = await make_user()
    async with UnitOfWork(admin.tenant_id) as uow:
        for statement in ("UPDATE audit_entries SET action = 'x'", "DELETE FROM audit_entries",
                          "TRUNCATE audit_entries"):
            with pytest.raises(ProgrammingError, match=r"permission denied|InsufficientPrivilege"):
                await uow.session.execute(text(statement))
            await uow.rollback()
    assert [e["action"] for e in await entries(client, admin)] == ["auth.login"]


async def test_retention_purges_exactly_the_expired_entries(db: Endpoints, client: httpx.AsyncClient,
                                                            make_user: Any) -> None:
    """Even the owner of the table cannot delete an entry younger than its retention; the purge (which the
    functions may run) deletes every older one and nothing else, in every tenant by its own period."""
    short, long_ = await make_user(), await make_user()
    await client.patch(f"/api/v1/sysadmin/tenants/{short.tenant_id}/", json={"audit_retention_days": 30},
                       headers=SUPER)
    owner = create_engine(db.database_migration_url)
    try:
        with owner.begin() as conn:
            for tenant, age in ((short.tenant_id, 31), (short.tenant_id, 29), (long_.tenant_id, 31),
                                (long_.tenant_id, 366)):
                conn.execute(text(
                    "INSERT INTO audit_entries (id, tenant_id, created_at, action, outcome, actor_type) "
                    "VALUES (:id, :t, now() - make_interval(days => :age), :action, 'success', 'system')"),
                    {"id": uuid.uuid4(), "t": tenant, "age": age, "action": f"test.aged_{age}"})
        with pytest.raises(DBAPIError, match="retention period"), owner.begin() as conn:
            conn.execute(text("DELETE FROM audit_entries WHERE tenant_id = :t AND action = 'test.aged_29'"),
                         {"t": short.tenant_id})
        with pytest.raises(DBAPIError, match="cannot be changed"), owner.begin() as conn:
            conn.execute(text("UPDATE audit_entries SET outcome = 'failure' WHERE tenant_id = :t"),
                         {"t": short.tenant_id})
    finally:
        owner.dispose()
    assert await purge_expired() >= 2
    assert {e["action"] for e in await entries(client, short)} == {
        "auth.login", "tenant.updated", "test.aged_29", "audit.purged"}
    assert {e["action"] for e in await entries(client, long_)} == {"auth.login", "test.aged_31", "audit.purged"}
    run = (await entries(client, short, action="audit.purged"))[0]
    assert (run["actor_type"], run["details"]) == ("system", {"entries": 1})  # the retention run is on record



def test_the_admin_function_purges_on_its_schedule(db: Endpoints) -> None:
    """EventBridge's scheduled event reaches the purge, not the HTTP app (in a process of its own, as Lambda
    runs it)."""
    code = ("import json, sys; sys.path.insert(0, 'functions/admin'); import app; "
            "print(json.dumps(app.handler({'source': 'aws.events', 'detail-type': 'Scheduled Event', "
            "'detail': {}}, None)))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ), capture_output=True,  # noqa: S603
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result) == {"purged"} and result["purged"] >= 0
