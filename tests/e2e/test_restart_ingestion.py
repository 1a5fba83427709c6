"""A document still being ingested when `eneo-local up` stops is ready after the next start: the local
SQS (moto) loses the messages it was waiting for, and the stack re-queues its work at start
(eneo.ingestion.recovery) instead of leaving it stuck until a manual retry an hour later."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from tests.e2e.actors import CONTENT, new_tenant
from tests.e2e.test_knowledge import new_group, upload, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.restarts_stack]

PAGES = 30
RESUMED = "unfinished ingestion resumed"


def long_pdf(marker: str) -> bytes:
    """~30 pages of distinct text: enough chunks that ingesting and embedding them take a few seconds."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=10)
    for page in range(1, PAGES + 1):
        pdf.add_page()
        for paragraph in range(1, 9):
            pdf.multi_cell(0, 5, f"{marker} sida {page}, stycke {paragraph}. Kommunen ansvarar för att den "
                                 f"enskilde får det stöd som behövs i ärende {page * 100 + paragraph}. "
                                 "Handläggaren utreder ansökan, dokumenterar utredningen och fattar beslut "
                                 "inom fyra veckor; beslutet kan överklagas till förvaltningsrätten inom tre "
                                 f"veckor från den dag då den enskilde fick del av det (avsnitt {paragraph}).")
            pdf.ln(2)
    return bytes(pdf.output())


def resumed_counts(output: str) -> list[int]:
    """The documents count of each "resumed" line the stack logged."""
    counts = []
    for line in output.splitlines():
        if RESUMED in line and line.startswith("{"):
            entry = json.loads(line)
            if entry.get("message") == RESUMED and "documents" in entry:
                counts.append(int(entry["documents"]))
    return counts


def test_a_document_caught_by_a_restart_is_ready_after_it(stack) -> None:
    marker = f"Riktlinje-{uuid.uuid4().hex[:8]}"
    CONTENT.add(marker)  # what the document says must not reach the logs
    data = long_pdf(marker)
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        _, admin = new_tenant(http, {"X-API-Key": stack.super_api_key})
        space = http.post("/api/v1/spaces/", json={"name": "Omstart"}, headers=admin.headers).json()["id"]
        group = new_group(http, admin, space, "Omstart")
        r = upload(http, admin, group, "riktlinjer-lang.pdf", data, "application/pdf")
        assert r.status_code == 202, r.text
        blob = r.json()["id"]
        before = http.get(f"/api/v1/info-blobs/{blob}/", headers=admin.headers).json()["status"]
    assert before != "ready"
    offset = len(stack.output())

    t0 = time.monotonic()
    stack.restart()
    restarted = time.monotonic() - t0

    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        right_after = http.get(f"/api/v1/info-blobs/{blob}/", headers=admin.headers).json()
        t1 = time.monotonic()
        done = wait_for(http, admin, blob, "ready", "failed", timeout=120)
        took = time.monotonic() - t1
    assert done["status"] == "ready", done
    assert done["pages"] == PAGES and done["chunks_embedded"] == done["chunks_total"] > PAGES
    assert right_after["status"] != "ready", "ingestion finished before the stop: the test proves nothing"
    counts = resumed_counts(stack.output()[offset:])
    assert counts and counts[-1] >= 1, f"the stack did not say it resumed the document: {counts}"
    print(f"\nstatus before the stop {before}, after the start {right_after['status']} "
          f"({right_after['chunks_embedded']}/{right_after['chunks_total']} chunks); restart {restarted:.1f} s, "
          f"ready {took:.1f} s after it; {done['chunks_total']} chunks")
