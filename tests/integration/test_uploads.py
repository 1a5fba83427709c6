"""Uploads: presigned POSTs that storage itself holds to the limits, and direct multipart uploads checked on
their content. Over a limit -> 413, a type not accepted or not what it claims -> 415, each saying what is
accepted; the same content twice in a collection is one document."""

import base64
import hashlib
import hmac
import json
import os
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from eneo.core.db import UnitOfWork
from eneo.core.settings import get_settings
from eneo.knowledge.models import InfoBlob, InfoBlobStatus
from tests.integration.test_knowledge import Storage, Team, knowledge_env, make_group, team  # noqa: F401 (fixtures)

DOCS = Path(__file__).resolve().parents[1] / "fixtures" / "documents"
PDF = "application/pdf"


def upload_path(group: dict[str, Any]) -> str:
    return f"/api/v1/groups/{group['id']}/info-blobs/upload/"


def url_path(group: dict[str, Any]) -> str:
    return f"/api/v1/groups/{group['id']}/info-blobs/upload-url/"


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch, knowledge_env: Storage) -> int:  # noqa: F811
    """Documents up to 4 KiB (audio keeps its own limit)."""
    monkeypatch.setenv("UPLOAD_MAX_BYTES", "4096")
    get_settings.cache_clear()
    return 4096


async def test_a_direct_upload_is_stored_under_ids_and_checked_on_content(
        client: httpx.AsyncClient, team: Team, knowledge_env: Storage) -> None:  # noqa: F811
    group = await make_group(client, team)
    data = (DOCS / "riktlinjer.pdf").read_bytes()
    r = await client.post(upload_path(group), headers=team.editor.headers, data={"title": "Riktlinjer 2025"},
                          files={"file": ("riktlinjer.pdf", data, PDF)})
    assert r.status_code == 202, r.text
    blob = r.json()
    # Its bytes are stored before the response: it waits for ingestion, `queued`, not `uploading`.
    assert (blob["status"], blob["title"], blob["filename"], blob["content_type"], blob["size_bytes"]) == (
        "queued", "Riktlinjer 2025", "riktlinjer.pdf", PDF, len(data))
    assert blob["content_hash"] == hashlib.sha256(data).hexdigest() and blob["duplicate"] is False
    key = f"tenants/{team.admin.tenant_id}/groups/{group['id']}/blobs/{blob['id']}"
    stored = knowledge_env.s3.get_object(Bucket=knowledge_env.bucket, Key=key)
    assert stored["Body"].read() == data and stored["ContentType"] == PDF

    # The same bytes again, under any name: the existing document, not a second one (started over while it
    # has not finished, tests/integration/test_ingestion.py; once ready, a duplicate).
    async with UnitOfWork(team.admin.tenant_id) as uow:
        await uow.session.execute(update(InfoBlob).where(InfoBlob.id == uuid.UUID(blob["id"])).values(
            status=InfoBlobStatus.ready))
    r = await client.post(upload_path(group), headers=team.admin.headers,
                          files={"file": ("kopia.pdf", data, "application/octet-stream")})
    assert r.status_code == 200, r.text
    assert (r.json()["id"], r.json()["duplicate"], r.json()["resumed"]) == (blob["id"], True, False)
    assert len(knowledge_env.object_keys(f"tenants/{team.admin.tenant_id}/")) == 1
    # ... but another collection may hold it too.
    other = await make_group(client, team, name="Arkiv")
    r = await client.post(upload_path(other), headers=team.editor.headers, files={"file": ("r.pdf", data, PDF)})
    assert r.status_code == 202 and r.json()["id"] != blob["id"]


async def test_unsupported_or_mismatched_content_is_415_naming_the_accepted_types(
        client: httpx.AsyncClient, team: Team) -> None:  # noqa: F811
    group = await make_group(client, team)
    r = await client.post(upload_path(group), headers=team.editor.headers,
                          files={"file": ("data.bin", (DOCS / "random.bin").read_bytes(), "application/octet-stream")})
    assert (r.status_code, r.json()["code"]) == (415, "unsupported_type")
    assert "PDF" in r.json()["message"] and "DOCX" in r.json()["message"]
    # A Word file named and declared as a PDF: the content decides, and it disagrees.
    r = await client.post(upload_path(group), headers=team.editor.headers,
                          files={"file": ("rapport.pdf", (DOCS / "riktlinjer.docx").read_bytes(), PDF)})
    assert (r.status_code, r.json()["code"]) == (415, "type_mismatch")
    assert "PDF" in r.json()["message"]
    r = await client.post(upload_path(group), headers=team.editor.headers,
                          files={"file": ("tom.txt", b"", "text/plain")})
    assert r.status_code == 422 and "empty" in r.json()["message"]
    r = await client.post(upload_path(group), headers=team.editor.headers, data={"title": "ingen fil"})
    assert r.status_code == 422 and r.json()["details"][0]["field"] == "file"
    listed = await client.get(f"/api/v1/groups/{group['id']}/info-blobs/", headers=team.editor.headers)
    assert listed.json()["items"] == []


async def test_too_large_is_413_stating_the_limit(client: httpx.AsyncClient, team: Team,  # noqa: F811
                                                  small_limits: int) -> None:
    group = await make_group(client, team)
    r = await client.post(upload_path(group), headers=team.editor.headers,
                          files={"file": ("lång.txt", b"ord " * 2000, "text/plain")})
    assert (r.status_code, r.json()["code"]) == (413, "too_large")
    assert str(small_limits) in r.json()["message"]
    r = await client.post(url_path(group), headers=team.editor.headers,
                          json={"filename": "lång.pdf", "content_type": PDF, "size_bytes": small_limits + 1})
    assert r.status_code == 413 and str(small_limits) in r.json()["message"]
    r = await client.post(url_path(group), headers=team.editor.headers,
                          json={"filename": "film.mkv", "content_type": "video/x-matroska", "size_bytes": 10})
    assert (r.status_code, r.json()["code"]) == (415, "unsupported_type")
    assert "application/pdf" in r.json()["message"]
    # The limits are public to every signed-in user.
    limits = (await client.get("/api/v1/limits/", headers=team.viewer.headers)).json()
    pdf = next(t for t in limits["accepted_types"] if t["media_type"] == PDF)
    assert pdf["max_bytes"] == small_limits and ".pdf" in pdf["extensions"]
    assert limits["chunk_size_tokens"] == get_settings().chunk_size_tokens


def signed_policy(fields: dict[str, str]) -> dict[str, Any]:
    """The POST policy, after checking its SigV4 signature with the credentials the app signed with: a store
    that verifies signatures (AWS S3, MinIO) enforces exactly these conditions, and a client cannot alter them."""
    credential = fields["x-amz-credential"]  # <key id>/<date>/<region>/s3/aws4_request
    _, date, region, service, _ = credential.split("/")
    key = ("AWS4" + os.environ["AWS_SECRET_ACCESS_KEY"]).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, fields["policy"].encode(), hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, fields["x-amz-signature"])
    return json.loads(base64.b64decode(fields["policy"]))


async def test_an_upload_may_state_the_documents_language(
        client: httpx.AsyncClient, team: Team, knowledge_env: Storage) -> None:  # noqa: F811
    """Shown in the document's representation (None until ingestion detects it); anything else is 422."""
    group = await make_group(client, team)
    file = {"file": ("a.txt", b"Ett kort dokument.", "text/plain")}
    r = await client.post(upload_path(group), headers=team.editor.headers, data={"language": "en"}, files=file)
    assert r.status_code == 202 and r.json()["language"] == "en", r.text
    r = await client.get(f"/api/v1/info-blobs/{r.json()['id']}/", headers=team.editor.headers)
    assert r.status_code == 200 and r.json()["language"] == "en", r.text
    r = await client.post(upload_path(group), headers=team.editor.headers, data={"language": "swedish"},
                          files={"file": ("b.txt", b"Ett annat dokument.", "text/plain")})
    assert r.status_code == 422 and "language: one of sv, en, other" in r.text, r.text
    r = await client.post(url_path(group), headers=team.editor.headers,
                          json={"filename": "c.md", "content_type": "text/markdown", "size_bytes": 40,
                                "language": "sv"})
    assert r.status_code == 201 and r.json()["blob"]["language"] == "sv", r.text
    r = await client.post(url_path(group), headers=team.editor.headers,
                          json={"filename": "d.md", "content_type": "text/markdown", "size_bytes": 40})
    assert r.status_code == 201 and r.json()["blob"]["language"] is None, r.text
    r = await client.post(url_path(group), headers=team.editor.headers,
                          json={"filename": "e.md", "content_type": "text/markdown", "size_bytes": 40,
                                "language": "fi"})
    assert r.status_code == 422 and "language" in r.text, r.text


async def test_a_presigned_post_binds_size_and_type_and_storage_accepts_the_right_file(
        client: httpx.AsyncClient, team: Team, knowledge_env: Storage, small_limits: int) -> None:  # noqa: F811
    group = await make_group(client, team)
    r = await client.post(url_path(group), headers=team.editor.headers,
                          json={"filename": "läsår.md", "content_type": "application/octet-stream", "size_bytes": 40,
                                "title": "Läsår"})
    assert r.status_code == 201, r.text
    upload, blob = r.json()["upload"], r.json()["blob"]
    assert (blob["status"], blob["title"], blob["size_bytes"]) == ("uploading", "Läsår", 40)
    assert upload["fields"]["Content-Type"] == "text/markdown"  # known by its extension
    key = f"tenants/{team.admin.tenant_id}/groups/{group['id']}/blobs/{blob['id']}"
    assert upload["fields"]["key"] == key

    policy = signed_policy(upload["fields"])
    conditions = policy["conditions"]
    assert ["content-length-range", 1, 40] in conditions  # the declared size, not just the type's limit
    assert {"Content-Type": "text/markdown"} in conditions and {"key": key} in conditions
    assert {"bucket": knowledge_env.bucket} in conditions
    expires = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert abs((expires - datetime.fromisoformat(upload["expires_at"])).total_seconds()) < 5

    # The embedded S3 checks POST policies as S3 and MinIO do (eneo_local.s3_post_policy): more bytes
    # than declared are refused and nothing is stored. Ingestion checks the size again (`too_large`)
    # for stores that do not.
    async with httpx.AsyncClient() as browser:
        refused = await browser.post(upload["url"], data=upload["fields"],
                                     files={"file": ("läsår.md", b"x" * 41, "text/markdown")})
        assert refused.status_code == 400 and b"EntityTooLarge" in refused.content, refused.text
        assert knowledge_env.object_keys(key) == []
        path = f"/api/v1/info-blobs/{blob['id']}/"
        # Refused: nothing stored, the document still waits for its file.
        assert (await client.get(path, headers=team.viewer.headers)).json()["status"] == "uploading"
        ok = await browser.post(upload["url"], data=upload["fields"],
                                files={"file": ("läsår.md", "# Läsår\nHösten börjar i augusti.".encode(),
                                                "text/markdown")})
        assert ok.status_code in (200, 201, 204), ok.text
    assert knowledge_env.object_keys(key) == [key]
    stored = knowledge_env.s3.get_object(Bucket=knowledge_env.bucket, Key=key)["Body"].read()
    assert stored.decode().startswith("# Läsår")
    # Arrived, not yet taken by ingestion (nothing runs it here): the next read says `queued`, in the list too.
    assert (await client.get(path, headers=team.viewer.headers)).json()["status"] == "queued"
    listed = (await client.get(f"/api/v1/groups/{group['id']}/info-blobs/", headers=team.viewer.headers)).json()
    assert [b["status"] for b in listed["items"]] == ["queued"]


async def test_only_editors_upload_and_other_tenants_get_404(client: httpx.AsyncClient, team: Team) -> None:  # noqa: F811
    group = await make_group(client, team)
    file = {"file": ("a.txt", b"Hej", "text/plain")}
    body = {"filename": "a.txt", "content_type": "text/plain", "size_bytes": 3}
    for who, status in ((team.viewer, 403), (team.outsider, 404), (team.stranger, 404)):
        assert (await client.post(upload_path(group), headers=who.headers, files=file)).status_code == status
        assert (await client.post(url_path(group), headers=who.headers, json=body)).status_code == status
    r = await client.post(f"/api/v1/groups/{uuid.uuid4()}/info-blobs/upload/", headers=team.editor.headers, files=file)
    assert r.status_code == 404
