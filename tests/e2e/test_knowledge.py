"""Knowledge end to end: upload → S3 event → SQS → ingest → SQS → embed → ready → search → cited answer.

Everything runs in `eneo-local up`: moto's S3 notifies the ingest queue, the local SQS event-source
mappings invoke the `ingest` and `embed` workers (real extraction, the real all-MiniLM embedder in
numpy), status events reach a real WebSocket client, and the assistant's answer comes from the fake
provider (real OpenAI wire format) with the retrieved sources in its prompt.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from websockets.sync.client import connect

from tests.e2e.actors import CONTENT, Actor, add_fake_model, new_tenant, new_user
from tests.fakes.llm_server import FakeLLMServer
from tests.fixtures.documents.make_fixtures import BODY, PDF_PAGES
from tests.scans import degrade, ocr_ready, render_page, require_tesseract, to_bytes, to_pdf

pytestmark = pytest.mark.e2e
DOCS = Path(__file__).resolve().parents[1] / "fixtures" / "documents"
READY_TIMEOUT = 120.0
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
CONTENT.update(BODY + PDF_PAGES)  # what the documents say must not reach the logs either


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(token_count=12, delay=0.002) as server:
        yield server


@pytest.fixture(scope="module")
def http(stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=60) as client:
        yield client


@dataclass
class Kb:
    admin: Actor
    viewer: Actor  # a viewer of the space
    outsider: Actor  # same tenant, not a member of the space
    space: str
    group: str


def new_group(http: httpx.Client, kb_admin: Actor, space: str, name: str, **extra: Any) -> str:
    r = http.post(f"/api/v1/spaces/{space}/knowledge/groups/", headers=kb_admin.headers,
                  json={"name": name, **extra})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


@pytest.fixture(scope="module")
def kb(http: httpx.Client, stack, fake: FakeLLMServer) -> Kb:
    _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
    viewer, outsider = new_user(http, admin), new_user(http, admin)
    add_fake_model(http, admin, fake)
    space = http.post("/api/v1/spaces/", json={"name": "Kunskap"}, headers=admin.headers).json()["id"]
    r = http.post(f"/api/v1/spaces/{space}/members/", json={"user_id": viewer.id, "role": "viewer"},
                  headers=admin.headers)
    assert r.status_code == 201, r.text
    return Kb(admin, viewer, outsider, space, new_group(http, admin, space, "Riktlinjer"))


def upload(http: httpx.Client, who: Actor, group: str, name: str, data: bytes | None = None,
           media_type: str = "application/octet-stream") -> httpx.Response:
    data = (DOCS / name).read_bytes() if data is None else data
    return http.post(f"/api/v1/groups/{group}/info-blobs/upload/", headers=who.headers,
                     files={"file": (name, data, media_type)})


def presigned_upload(http: httpx.Client, who: Actor, group: str, name: str, media_type: str) -> dict[str, Any]:
    data = (DOCS / name).read_bytes()  # `name` may be in a folder of DOCS; the file keeps its own name
    filename = name.rsplit("/", 1)[-1]
    r = http.post(f"/api/v1/groups/{group}/info-blobs/upload-url/", headers=who.headers,
                  json={"filename": filename, "content_type": media_type, "size_bytes": len(data)})
    assert r.status_code == 201, r.text
    target = r.json()["upload"]
    stored = httpx.post(target["url"], data=target["fields"], files={"file": (filename, data, media_type)},
                        timeout=30)
    assert stored.status_code in (200, 201, 204), stored.text
    return dict(r.json()["blob"])


def wait_for(http: httpx.Client, who: Actor, blob: str, *states: str, timeout: float = READY_TIMEOUT) -> dict:
    """The blob once its status is one of `states` (fails with the last seen state otherwise)."""
    deadline = time.monotonic() + timeout
    while True:
        r = http.get(f"/api/v1/info-blobs/{blob}/", headers=who.headers)
        assert r.status_code == 200, r.text
        if r.json()["status"] in states:
            return dict(r.json())
        if time.monotonic() > deadline:
            pytest.fail(f"blob {blob} stayed {r.json()['status']} (wanted {states}): {r.json()}")
        time.sleep(0.25)


def search(http: httpx.Client, who: Actor, group: str, query: str, limit: int = 5) -> httpx.Response:
    CONTENT.add(query)
    return http.post(f"/api/v1/groups/{group}/searches/", headers=who.headers, json={"query": query, "limit": limit})


def test_presigned_upload_becomes_ready_and_searchable(http: httpx.Client, kb: Kb) -> None:
    blob = presigned_upload(http, kb.admin, kb.group, "riktlinjer.docx", DOCX)
    assert blob["status"] == "uploading"
    ready = wait_for(http, kb.admin, blob["id"], "ready", "failed")
    assert ready["status"] == "ready", ready
    assert ready["content_type"] == DOCX
    assert ready["chunks_total"] >= 1 and ready["chunks_embedded"] == ready["chunks_total"]

    # A viewer of the space searches in other words than the document's.
    r = search(http, kb.viewer, kb.group, "När börjar man ploga gång- och cykelbanor?")
    assert r.status_code == 200, r.text
    hits = r.json()["items"] if isinstance(r.json(), dict) else r.json()
    assert hits and hits[0]["info_blob_id"] == blob["id"]
    assert "snödjupet" in " ".join(h["text"] for h in hits)


def test_status_events_reach_the_uploader_over_the_websocket(http: httpx.Client, stack, kb: Kb) -> None:
    with connect(f"{stack.ws_url}?token={kb.admin.token}", open_timeout=10) as ws:
        ws.send(json.dumps({"action": "subscribe_events"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
        r = upload(http, kb.admin, kb.group, "riktlinjer.pdf", media_type="application/pdf")
        assert r.status_code == 202, r.text
        blob = r.json()["id"]
        seen: list[dict[str, Any]] = []
        entry_ids: list[str] = []
        deadline = time.monotonic() + READY_TIMEOUT
        while not seen or seen[-1]["status"] not in ("ready", "failed"):
            assert time.monotonic() < deadline, f"no final status; saw {[e['status'] for e in seen]}"
            frame = json.loads(ws.recv(timeout=READY_TIMEOUT))
            if frame.get("type") == "resubscribe":
                ws.send(json.dumps({"action": "subscribe_events", "last_id": frame["last_id"]}))
            elif frame.get("type") == "info_blob.status" and frame["data"]["id"] == blob:
                entry_ids.append(frame["id"])  # the entry id, to resume from
                seen.append(frame["data"])
    statuses = [e["status"] for e in seen]
    assert statuses[-1] == "ready", seen
    # In order, each at least once: a browser can draw a progress bar from these alone.
    order = ["processing", "embedding", "ready"]
    assert [s for s in dict.fromkeys(statuses) if s in order] == order, statuses
    assert seen[-1]["chunks_embedded"] == seen[-1]["chunks_total"] >= 1
    assert http.get(f"/api/v1/info-blobs/{blob}/", headers=kb.admin.headers).json()["pages"] == 3

    # A client that reconnects with the first id it saw gets the rest again, in order.
    with connect(f"{stack.ws_url}?token={kb.admin.token}", open_timeout=10) as ws:
        ws.send(json.dumps({"action": "subscribe_events", "last_id": entry_ids[0]}))
        assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
        again: list[dict[str, Any]] = []
        while len(again) < len(entry_ids) - 1:
            frame = json.loads(ws.recv(timeout=10))
            if frame["data"]["id"] == blob:  # not another of this user's documents
                again.append(frame)
    assert [f["id"] for f in again] == entry_ids[1:]
    assert [f["data"]["status"] for f in again] == statuses[1:]

    # Another user of the same tenant sees none of these events.
    with connect(f"{stack.ws_url}?token={kb.viewer.token}", open_timeout=10) as ws:
        ws.send(json.dumps({"action": "subscribe_events", "last_id": "0-0"}))
        assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
        with pytest.raises(TimeoutError):
            ws.recv(timeout=1.5)


def test_same_content_and_same_event_twice_make_no_duplicate_chunks(http: httpx.Client, stack, kb: Kb) -> None:
    group = new_group(http, kb.admin, kb.space, "Dubbletter")
    first = upload(http, kb.admin, group, "riktlinjer.md", media_type="text/markdown")
    assert first.status_code == 202, first.text
    ready = wait_for(http, kb.admin, first.json()["id"], "ready", "failed")
    assert ready["status"] == "ready", ready

    again = upload(http, kb.admin, group, "kopia.md", data=(DOCS / "riktlinjer.md").read_bytes(),
                   media_type="text/markdown")
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True and again.json()["id"] == ready["id"]

    # S3 delivers at least once: the same ObjectCreated event again changes nothing.
    key = f"tenants/{_tenant_of(http, kb)}/groups/{group}/blobs/{ready['id']}"
    record = {"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": stack.endpoints["region"],
              "eventName": "ObjectCreated:Put",
              "s3": {"bucket": {"name": stack.bucket()}, "object": {"key": key, "size": ready["size_bytes"]}}}
    sqs(stack).send_message(QueueUrl=queue_url(stack, "IngestQueue"), MessageBody=json.dumps({"Records": [record]}))
    time.sleep(6)  # longer than the mapping takes to deliver and the function to finish
    after = wait_for(http, kb.admin, ready["id"], "ready", "failed")
    assert after["status"] == "ready" and after["chunks_total"] == ready["chunks_total"]
    r = http.get(f"/api/v1/groups/{group}/info-blobs/", headers=kb.admin.headers)
    assert [b["id"] for b in r.json()["items"]] == [ready["id"]]
    hits = search(http, kb.admin, group, "Vem ansvarar för trottoaren utanför tomten?", limit=50).json()
    hits = hits["items"] if isinstance(hits, dict) else hits
    chunks = [(h["info_blob_id"], h["chunk_index"]) for h in hits]
    assert len(chunks) == len(set(chunks)) == ready["chunks_total"]


def _tenant_of(http: httpx.Client, kb: Kb) -> str:
    r = http.get("/api/v1/users/me/", headers=kb.admin.headers)
    assert r.status_code == 200, r.text
    return str(r.json()["tenant_id"])


def queue_url(stack, logical_id: str) -> str:
    return str(stack.endpoints["queues"][logical_id])


def sqs(stack) -> Any:
    return boto3.client("sqs", endpoint_url=stack.endpoints["sqs_endpoint_url"], region_name=stack.endpoints["region"],
                        aws_access_key_id="local", aws_secret_access_key=stack.secret("aws_secret_access_key"))


def test_bad_documents_fail_with_a_reason_without_holding_up_good_ones(http: httpx.Client, kb: Kb) -> None:
    group = new_group(http, kb.admin, kb.space, "Blandat")
    bad = {name: presigned_upload(http, kb.admin, group, name, media)["id"] for name, media in [
        ("truncated.pdf", "application/pdf"), ("encrypted.pdf", "application/pdf"),
        ("scanned.pdf", "application/pdf"), ("zip-bomb.docx", DOCX)]}
    good = [presigned_upload(http, kb.admin, group, "riktlinjer.xlsx",
                             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")["id"],
            presigned_upload(http, kb.admin, group, "opendocument/countrystatistics.ods",
                             "application/vnd.oasis.opendocument.spreadsheet")["id"]]
    # A grey page: OCR (where the stack has Tesseract) finds nothing on it.
    expected = {"truncated.pdf": "corrupt", "encrypted.pdf": "encrypted",
                "scanned.pdf": "no_text_layer" if ocr_ready() else "ocr_unavailable",
                "zip-bomb.docx": "unpack_limit"}
    for name, blob in bad.items():
        failed = wait_for(http, kb.admin, blob, "ready", "failed")
        assert (failed["status"], failed["error_code"]) == ("failed", expected[name]), failed
        assert failed["error_message"]
    for blob in good:
        assert wait_for(http, kb.admin, blob, "ready", "failed")["status"] == "ready"


# Said only in the scanned page's image: no text layer anywhere holds these words.
SCANNED = ("Tekniska nämnden har beslutat att lövblåsare inte får användas i Rådhusparken före klockan åtta "
           "på morgonen, eftersom boende på Östra Långgatan har klagat på buller.")
SCANNED_OTHER = ("Bibliotekets öppettider ändras under sommaren: från midsommar till augusti stänger filialen i "
                 "Björkå klockan sexton varje vardag.")


def test_a_scanned_pdf_is_ocred_and_a_sentence_only_in_its_image_is_found(http: httpx.Client, kb: Kb) -> None:
    require_tesseract()
    group = new_group(http, kb.admin, kb.space, "Skannat arkiv")
    pages = [degrade(render_page([SCANNED_OTHER])), degrade(render_page([SCANNED]), seed=11)]
    CONTENT.update([SCANNED, SCANNED_OTHER])
    r = upload(http, kb.admin, group, "protokoll-1998.pdf", to_pdf(pages), "application/pdf")
    assert r.status_code == 202, r.text
    ready = wait_for(http, kb.admin, r.json()["id"], "ready", "failed")
    assert ready["status"] == "ready", ready
    assert ready["pages"] == 2 and ready["ocr_pages"] == [1, 2]

    r = search(http, kb.viewer, group, "Får man använda lövblåsare i Rådhusparken på morgonen?")
    assert r.status_code == 200, r.text
    hits = r.json()["items"] if isinstance(r.json(), dict) else r.json()
    assert hits and hits[0]["info_blob_id"] == ready["id"]
    assert "lövblåsare" in hits[0]["text"] and "Rådhusparken" in hits[0]["text"]


def test_an_image_is_accepted_and_a_broken_one_fails_with_its_reason(http: httpx.Client, kb: Kb) -> None:
    require_tesseract()
    group = new_group(http, kb.admin, kb.space, "Bilder")
    CONTENT.update([SCANNED_OTHER])
    photo = upload(http, kb.admin, group, "anslag.jpg", to_bytes(render_page([SCANNED_OTHER]), "JPEG"), "image/jpeg")
    assert photo.status_code == 202, photo.text
    assert photo.json()["content_type"] == "image/jpeg"
    png = to_bytes(render_page([SCANNED]), "PNG")
    broken = upload(http, kb.admin, group, "trasig.png", png[: len(png) // 3], "image/png")
    assert broken.status_code == 202, broken.text  # what the bytes are is known; whether they decode is ingestion's

    ready = wait_for(http, kb.admin, photo.json()["id"], "ready", "failed")
    assert (ready["status"], ready["ocr_pages"], ready["pages"]) == ("ready", [1], 1), ready
    failed = wait_for(http, kb.admin, broken.json()["id"], "ready", "failed")
    assert (failed["status"], failed["error_code"]) == ("failed", "corrupt"), failed
    assert failed["error_message"] == ("the PNG image could not be read (damaged, cut short, or not a valid PNG "
                                       "image file)")
    r = search(http, kb.viewer, group, "När stänger biblioteket i Björkå på sommaren?")
    hits = r.json()["items"] if isinstance(r.json(), dict) else r.json()
    assert hits and hits[0]["info_blob_id"] == ready["id"]


def test_upload_limits_are_stated_and_enforced(http: httpx.Client, kb: Kb) -> None:
    limits = http.get("/api/v1/limits/", headers=kb.viewer.headers)
    assert limits.status_code == 200, limits.text
    text = json.dumps(limits.json())
    for media_type in ("application/pdf", DOCX, "text/plain", "text/csv", "image/png", "image/jpeg", "image/tiff"):
        assert media_type in text

    r = upload(http, kb.admin, kb.group, "random.bin")
    assert r.status_code == 415, r.text
    r = upload(http, kb.admin, kb.group, "docx-named.pdf", media_type="application/pdf")
    assert r.status_code == 415 and "pdf" in r.json()["message"].lower(), r.text
    r = http.post(f"/api/v1/groups/{kb.group}/info-blobs/upload-url/", headers=kb.admin.headers,
                  json={"filename": "huge.pdf", "content_type": "application/pdf", "size_bytes": 10**10})
    pdf_limit = next(t["max_bytes"] for t in limits.json()["accepted_types"]
                     if t["media_type"] == "application/pdf")
    assert r.status_code == 413 and str(pdf_limit) in r.json()["message"], r.text


def test_poisoned_message_lands_in_the_dead_letter_queue_and_the_document_fails(http: httpx.Client, stack,
                                                                                 kb: Kb) -> None:
    # An embeddings endpoint that refuses connections: a retryable failure, every time.
    provider = http.post("/api/v1/admin/model-providers/", headers=kb.admin.headers, json={
        "name": f"Nere {uuid.uuid4().hex[:6]}", "type": "openai_compatible", "base_url": "http://127.0.0.1:9/v1",
        "api_key": "sk-unreachable-000000"})
    assert provider.status_code == 201, provider.text
    model = http.post("/api/v1/embedding-models/", headers=kb.admin.headers, json={
        "provider_id": provider.json()["id"], "name": "text-embedding-3-small", "dimensions": 384})
    assert model.status_code == 201, model.text
    group = new_group(http, kb.admin, kb.space, "Otur", embedding_model_id=model.json()["id"])
    r = upload(http, kb.admin, group, "riktlinjer.txt", media_type="text/plain")
    assert r.status_code == 202, r.text

    failed = wait_for(http, kb.admin, r.json()["id"], "ready", "failed", timeout=180)
    assert failed["status"] == "failed" and failed["error_code"] == "retries_exhausted", failed
    assert failed["chunks_total"] >= 1 and failed["chunks_embedded"] == 0

    dead = sqs(stack).receive_message(QueueUrl=queue_url(stack, "EmbedDeadLetterQueue"), MaxNumberOfMessages=10,
                                      VisibilityTimeout=0, WaitTimeSeconds=5).get("Messages", [])
    assert any(json.loads(m["Body"])["blob_id"] == r.json()["id"] for m in dead), dead

    # Retry is what an admin does once the provider is back: the document leaves `failed` at once.
    again = http.post(f"/api/v1/info-blobs/{r.json()['id']}/retry/", headers=kb.admin.headers)
    assert again.status_code == 202, again.text
    assert again.json()["status"] != "failed"


def test_an_assistant_with_knowledge_cites_the_document_it_used(http: httpx.Client, stack, kb: Kb,
                                                                fake: FakeLLMServer) -> None:
    group = new_group(http, kb.admin, kb.space, "Vinter")
    r = upload(http, kb.admin, group, "riktlinjer.html", media_type="text/html")
    assert r.status_code == 202, r.text
    doc = wait_for(http, kb.admin, r.json()["id"], "ready", "failed")
    assert doc["status"] == "ready", doc
    assistant = http.post(f"/api/v1/spaces/{kb.space}/applications/assistants/", headers=kb.admin.headers, json={
        "name": "Vinterhjälpen", "system_prompt": "Svara kort.", "published": True, "groups": [group]})
    assert assistant.status_code == 201, assistant.text

    fake.reset()
    question = "Hur djup måste snön vara innan kommunen börjar röja?"
    CONTENT.add(question)
    with connect(f"{stack.ws_url}?token={kb.viewer.token}", open_timeout=10) as ws:
        r = http.post(f"/api/v1/assistants/{assistant.json()['id']}/sessions/", headers=kb.viewer.headers,
                      json={"question": question, "stream": True})
        assert r.status_code == 202, r.text
        question_id = r.json()["question"]["id"]
        ws.send(json.dumps({"action": "subscribe", "question_id": question_id}))
        frames = [json.loads(ws.recv(timeout=60))]
        while frames[-1]["type"] not in ("done", "error"):
            frames.append(json.loads(ws.recv(timeout=60)))
    first = frames[0]
    assert first["type"] == "first_chunk" and frames[-1]["type"] == "done", frames[-1]
    cited = {ref["id"] for ref in first["references"]}
    assert doc["id"] in cited, first["references"]
    assert all(ref["title"] for ref in first["references"])

    # The model was given the passage that answers, and told to cite it.
    sent = json.dumps(fake.requests[-1].body["messages"], ensure_ascii=False)
    assert "fem centimeter" in sent and "[1]" in sent

    stored = http.get(f"/api/v1/questions/{question_id}/", headers=kb.viewer.headers)
    assert stored.status_code == 200, stored.text
    assert doc["id"] in {ref["id"] for ref in stored.json()["references"]}


def test_knowledge_stays_inside_its_space_and_tenant(http: httpx.Client, stack, kb: Kb) -> None:
    r = upload(http, kb.admin, kb.group, "riktlinjer-cp1252.txt", media_type="text/plain")
    assert r.status_code in (200, 202), r.text
    blob = r.json()["id"]
    _, other_admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
    for who in (other_admin, kb.outsider):
        for method, url, body in [("GET", f"/api/v1/groups/{kb.group}/", None),
                                  ("GET", f"/api/v1/groups/{kb.group}/info-blobs/", None),
                                  ("GET", f"/api/v1/info-blobs/{blob}/", None),
                                  ("POST", f"/api/v1/groups/{kb.group}/searches/", {"query": "snöröjning"}),
                                  ("DELETE", f"/api/v1/info-blobs/{blob}/", None)]:
            r = http.request(method, url, json=body, headers=who.headers)
            assert r.status_code == 404, (who.email, method, url, r.text)
    # A viewer reads and searches, but does not change the collection.
    assert http.get(f"/api/v1/info-blobs/{blob}/", headers=kb.viewer.headers).status_code == 200
    r = upload(http, kb.viewer, kb.group, "riktlinjer.csv", media_type="text/csv")
    assert r.status_code == 403, r.text
    r = http.delete(f"/api/v1/info-blobs/{blob}/", headers=kb.viewer.headers)
    assert r.status_code == 403, r.text


def test_storage_refuses_a_file_larger_than_declared_and_the_document_stays_uploading(http: httpx.Client, stack,
                                                                                        kb: Kb) -> None:
    """The local S3 holds a browser's POST to its policy as S3 does: 1..declared bytes, or 400 and nothing stored."""
    group = new_group(http, kb.admin, kb.space, "För stort")
    data = (DOCS / "riktlinjer.txt").read_bytes()
    r = http.post(f"/api/v1/groups/{group}/info-blobs/upload-url/", headers=kb.admin.headers,
                  json={"filename": "riktlinjer.txt", "content_type": "text/plain", "size_bytes": len(data)})
    assert r.status_code == 201, r.text
    target, blob = r.json()["upload"], r.json()["blob"]["id"]

    def send(body: bytes) -> httpx.Response:
        return httpx.post(target["url"], data=target["fields"], files={"file": ("riktlinjer.txt", body, "text/plain")},
                          timeout=30)

    refused = send(data + b"\nEn rad till." * 100)
    assert refused.status_code == 400 and "<Code>EntityTooLarge</Code>" in refused.text, refused.text
    keys = stack.s3().list_objects_v2(Bucket=stack.bucket(), Prefix=target["fields"]["key"]).get("Contents", [])
    assert keys == []
    time.sleep(3)  # longer than an S3 event takes to reach ingestion
    still = http.get(f"/api/v1/info-blobs/{blob}/", headers=kb.admin.headers).json()
    assert (still["status"], still["chunks_total"]) == ("uploading", 0), still

    # The declared file itself is what the link is for.
    assert send(data).status_code == 204
    assert wait_for(http, kb.admin, blob, "ready", "failed")["status"] == "ready"
