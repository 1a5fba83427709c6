"""A cited document's original file: members get a presigned link that fetches the very bytes they uploaded;
everyone else and other tenants get 404; a document whose file is not in storage says `object_missing`."""

import uuid
from datetime import datetime, timedelta
from urllib.parse import unquote

import httpx

from eneo.core.ids import utcnow
from eneo.knowledge.service.downloads import attachment_name
from tests.integration.test_knowledge import (  # noqa: F401 (fixtures)
    Storage,
    Team,
    knowledge_env,
    make_group,
    team,
)

BODY = "Skolan börjar i augusti.\nLov v. 44.".encode()


def download_path(blob_id: str) -> str:
    return f"/api/v1/info-blobs/{blob_id}/download/"


async def test_a_member_downloads_the_original_bytes_through_a_short_lived_link(
        client: httpx.AsyncClient, team: Team, knowledge_env: Storage) -> None:  # noqa: F811
    group = await make_group(client, team)
    r = await client.post(f"/api/v1/groups/{group['id']}/info-blobs/upload/", headers=team.editor.headers,
                          files={"file": ('Läsår & lov, 2026.txt', BODY, "text/plain")})
    assert r.status_code == 202, r.text
    blob = r.json()

    r = await client.get(download_path(blob["id"]), headers=team.viewer.headers)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["filename"] == 'Läsår & lov, 2026.txt' and out["size_bytes"] == len(BODY) and out["source_url"] is None
    expires = datetime.fromisoformat(out["expires_at"])
    assert utcnow() + timedelta(minutes=1) < expires <= utcnow() + timedelta(minutes=10)
    async with httpx.AsyncClient() as plain:  # storage itself, no Eneo credentials
        got = await plain.get(out["url"])
    assert got.status_code == 200 and got.content == BODY
    assert 'filename="L_s_r _ lov_ 2026.txt"' in unquote(got.headers["content-disposition"])


async def test_only_members_of_the_space_and_of_the_tenant_get_a_link(
        client: httpx.AsyncClient, team: Team, knowledge_env: Storage) -> None:  # noqa: F811
    group = await make_group(client, team)
    r = await client.post(f"/api/v1/groups/{group['id']}/info-blobs/upload/", headers=team.editor.headers,
                          files={"file": ("info.txt", BODY, "text/plain")})
    path = download_path(r.json()["id"])
    for who in (team.outsider, team.stranger):
        r = await client.get(path, headers=who.headers)
        assert (r.status_code, r.json()["code"]) == (404, "not_found"), who
        assert "url" not in r.json()
    r = await client.get(download_path(str(uuid.uuid4())), headers=team.admin.headers)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    assert (await client.get(path)).status_code == 401


async def test_a_document_whose_file_is_not_in_storage_says_object_missing(
        client: httpx.AsyncClient, team: Team, knowledge_env: Storage) -> None:  # noqa: F811
    group = await make_group(client, team)
    r = await client.post(f"/api/v1/groups/{group['id']}/info-blobs/upload-url/", headers=team.editor.headers,
                          json={"filename": "plan.txt", "content_type": "text/plain", "size_bytes": 10})
    assert r.status_code == 201, r.text  # the browser never sends the file
    r = await client.get(download_path(r.json()["blob"]["id"]), headers=team.viewer.headers)
    assert (r.status_code, r.json()["code"]) == (404, "object_missing")
    assert "not in storage" in r.json()["message"]


def test_a_file_name_becomes_one_a_quoted_header_can_carry() -> None:
    assert attachment_name('a"b\\c\r\nd.pdf') == "a_b_c__d.pdf"
    assert attachment_name("Årsrapport 2026.pdf") == "_rsrapport 2026.pdf"
    assert attachment_name("  ") == "document"
