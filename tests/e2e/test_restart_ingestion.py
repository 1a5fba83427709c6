"""Documents caught by restarts of `eneo-local up` all end `ready`, with their own content searchable.

The local SQS (moto) loses every message it holds when the stack stops, so documents in flight wait
for work that is gone; at each start the stack resumes them from the stage they were left at
(eneo.ingestion.recovery) instead of leaving them stuck. Here 30 documents of mixed types and sizes
are uploaded (through the API and presigned POSTs), the stack is stopped with Ctrl-C while they are
queued, started on the same data, stopped again while documents are embedding, and started again:
every one must reach `ready`, and a search for what only it says must find it first.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.actors import CONTENT, Actor, new_tenant
from tests.e2e.test_knowledge import new_group, search, upload
from tests.fixtures.documents.make_fixtures import BODY
from tests.fixtures.documents.make_fixtures import _pdf as pdf_of_pages

pytestmark = [pytest.mark.e2e, pytest.mark.restarts_stack]

RESUMED = "unfinished ingestion resumed"
FINAL = ("ready", "failed")
ALL_FINAL_TIMEOUT = 120.0  # ~25-65 s here; the whole test must stay within pytest's 300 s
PROGRESS_TIMEOUT = 60.0
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
SENTENCES = [*BODY, "Handläggaren utreder ansökan, dokumenterar utredningen och fattar beslut inom fyra veckor.",
             "Beslutet kan överklagas till förvaltningsrätten inom tre veckor från den dag då man fick del av det."]


@dataclass
class Document:
    name: str
    media_type: str
    data: bytes
    marker: str  # a word only this document says
    presigned: bool = False
    id: str = ""


def paragraphs(marker: str, count: int) -> list[str]:
    """`count` paragraphs of ~50 words, each naming the document's marker and its own number."""
    return [f"{marker} avsnitt {n}. {SENTENCES[n % len(SENTENCES)]} {SENTENCES[(n + 2) % len(SENTENCES)]} "
            f"Ärende {n * 7 + 3} gäller {marker} och hanteras enligt punkt {n}." for n in range(1, count + 1)]


def docx_of(texts: list[str]) -> bytes:
    from docx import Document as Word

    document = Word()
    for text in texts:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def documents() -> list[Document]:
    """30 documents: text, Markdown, CSV, HTML, PDF (1 to 8 pages) and DOCX, from one paragraph to 32."""
    docs: list[Document] = []

    def add(kind: str, media_type: str, make: object, size: int, presigned: bool = False) -> None:
        marker = f"kod{uuid.uuid4().hex[:10]}"
        CONTENT.add(marker)  # what the documents say must not reach the logs
        data = make(marker, size)  # type: ignore[operator]
        docs.append(Document(f"{kind}-{len(docs) + 1}.{kind}", media_type, data, marker, presigned))

    for size in (1, 2, 3, 4, 6, 8, 12, 16, 2, 3):
        add("txt", "text/plain", lambda m, n: "\n\n".join(paragraphs(m, n)).encode(), size, presigned=size in (2, 12))
    for size in (1, 3, 5, 8, 12):
        add("md", "text/markdown", lambda m, n: "\n\n".join(f"## Del {i}\n\n{p}" for i, p in
                                                                  enumerate(paragraphs(m, n), 1)).encode(), size)
    for size in (2, 5, 10, 16):
        add("csv", "text/csv", lambda m, n: ("Nr;Text\r\n" + "".join(f"{i};{p}\r\n" for i, p in
                                                                     enumerate(paragraphs(m, n), 1))).encode(), size)
    for size in (2, 4, 8, 14):
        add("html", "text/html", lambda m, n: ("<!DOCTYPE html><html lang=\"sv\"><head><meta charset=\"utf-8\">"
                                               f"<title>{m}</title></head><body>" + "".join(
                                                   f"<p>{p}</p>" for p in paragraphs(m, n)) + "</body></html>"
                                               ).encode(), size)
    for pages in (1, 2, 4, 8):
        add("pdf", "application/pdf", lambda m, n: pdf_of_pages([paragraphs(f"{m} sida {page}", 4)
                                                                   for page in range(1, n + 1)]), pages)
    for size in (2, 6, 12):
        add("docx", DOCX, lambda m, n: docx_of(paragraphs(m, n)), size)
    assert len(docs) == 30
    return docs


def presigned(http: httpx.Client, who: Actor, group: str, doc: Document) -> str:
    r = http.post(f"/api/v1/groups/{group}/info-blobs/upload-url/", headers=who.headers,
                  json={"filename": doc.name, "content_type": doc.media_type, "size_bytes": len(doc.data)})
    assert r.status_code == 201, r.text
    target = r.json()["upload"]
    stored = httpx.post(target["url"], data=target["fields"], files={"file": (doc.name, doc.data, doc.media_type)},
                        timeout=30)
    assert stored.status_code in (200, 201, 204), stored.text
    return str(r.json()["blob"]["id"])


def statuses(http: httpx.Client, who: Actor, group: str) -> dict[str, dict]:
    r = http.get(f"/api/v1/groups/{group}/info-blobs/", params={"limit": 100}, headers=who.headers)
    assert r.status_code == 200, r.text
    return {b["id"]: b for b in r.json()["items"]}


def resumed_counts(output: str) -> list[int]:
    """The documents count of each "resumed" line the stack logged."""
    counts = []
    for line in output.splitlines():
        if RESUMED in line and line.startswith("{"):
            entry = json.loads(line)
            if entry.get("message") == RESUMED and "documents" in entry:
                counts.append(int(entry["documents"]))
    return counts


def test_thirty_documents_caught_by_restarts_all_end_ready_and_searchable(stack) -> None:
    docs = documents()
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
        space = http.post("/api/v1/spaces/", json={"name": "Omstart"}, headers=admin.headers).json()["id"]
        group = new_group(http, admin, space, "Omstart")
        for doc in docs:
            if doc.presigned:
                doc.id = presigned(http, admin, group, doc)
            else:
                r = upload(http, admin, group, doc.name, doc.data, doc.media_type)
                assert r.status_code == 202, r.text
                doc.id = r.json()["id"]
        at_first_stop = Counter(b["status"] for b in statuses(http, admin, group).values())
    offset = len(stack.output())

    # 1. Stopped while most are queued (their S3 events and embed work are lost with moto's queues).
    assert stack.stop() == 0
    stack.start()
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        after_first_start = Counter(b["status"] for b in statuses(http, admin, group).values())
        # 2. Stopped again once embedding has made progress since the start, with documents still embedding.
        deadline = time.monotonic() + PROGRESS_TIMEOUT
        while True:
            now = statuses(http, admin, group)
            counts = Counter(b["status"] for b in now.values())
            if (counts["ready"] > after_first_start["ready"] and counts["embedding"]) \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        at_second_stop = counts
    assert at_second_stop["embedding"] >= 1, f"no document was embedding: {at_second_stop}"
    t_stop = time.monotonic()
    assert stack.stop() == 0
    stack.start()
    started = time.monotonic()
    stop_to_ready = started - t_stop

    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        after_second_start = Counter(b["status"] for b in statuses(http, admin, group).values())
        while True:
            now = statuses(http, admin, group)
            if all(b["status"] in FINAL for b in now.values()) or time.monotonic() > started + ALL_FINAL_TIMEOUT:
                break
            time.sleep(0.25)
        all_final = time.monotonic() - started
        stuck = {i: b["status"] for i, b in now.items() if b["status"] not in FINAL}
        assert not stuck, f"{len(stuck)} of 30 documents not final {ALL_FINAL_TIMEOUT:.0f} s after the start: {stuck}"
        failed = {i: (b["error_code"], b["error_message"]) for i, b in now.items() if b["status"] != "ready"}
        assert not failed, failed
        assert len(now) == 30 and all(b["chunks_embedded"] == b["chunks_total"] > 0 for b in now.values())
        for doc in docs:  # each document's own words find it first: its own chunks, complete
            r = search(http, admin, group, doc.marker, limit=3)
            assert r.status_code == 200, r.text
            hits = r.json()["items"] if isinstance(r.json(), dict) else r.json()
            assert hits and hits[0]["info_blob_id"] == doc.id, (doc.name, hits[:1])
            assert doc.marker in hits[0]["text"]

    assert sum(v for k, v in after_first_start.items() if k not in FINAL) >= 5, \
        f"too few documents were caught by the first stop to prove anything: {after_first_start}"
    assert sum(v for k, v in after_second_start.items() if k not in FINAL) >= 1, after_second_start
    output = stack.output()[offset:]
    counts = resumed_counts(output)
    assert len(counts) >= 2 and counts[-2] >= 5 and counts[-1] >= 1, f"the stack did not resume them: {counts}"
    for problem in ("sweep failed for a tenant", "document not resumed", "unfinished ingestion not resumed"):
        assert problem not in output
    print(f"\n30 documents ({sum(b['chunks_total'] for b in now.values())} chunks); statuses at the first stop "
          f"{dict(at_first_stop)}, after its start {dict(after_first_start)}; at the second stop "
          f"{dict(at_second_stop)}, after its start {dict(after_second_start)}; resumed {counts[-2:]}; "
          f"second stop to serving again {stop_to_ready:.1f} s; all final {all_final:.1f} s after the last start")
