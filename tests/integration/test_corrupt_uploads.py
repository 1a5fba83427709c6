"""Corrupt files of every accepted kind, put into the bucket as a presigned upload would (no content check on
the way in), go through the real ingest function: each document ends `failed` with the reason a user can act
on, none is left `queued` or `processing`, none gets a chunk, and the one good file among them is not held up.
"""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import func, select

from eneo.core.db import UnitOfWork
from eneo.knowledge.models import Chunk, InfoBlobStatus
from tests.integration import pipeline
from tests.integration.pipeline import TEXT, Collection, Queues, blob, invoke, notifications, upload

DOCS = Path(__file__).resolve().parents[1] / "fixtures" / "documents"
OOXML = "application/vnd.openxmlformats-officedocument."
DOCX, XLSX, PPTX = (OOXML + "wordprocessingml.document", OOXML + "spreadsheetml.sheet",
                    OOXML + "presentationml.presentation")

queues, functions, collection = pipeline.queues, pipeline.functions, pipeline.collection
settings_restored = pipeline.settings_restored


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(out, "PNG")
    return out.getvalue()


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def cases() -> list[tuple[str, bytes, str, str, set[str]]]:
    """(file name, bytes, declared type, what it is, the failure codes that say so)."""
    read = lambda name: (DOCS / name).read_bytes()  # noqa: E731
    return [
        ("rapport.pdf", read("truncated.pdf"), "application/pdf", "truncated PDF", {"corrupt"}),
        ("beslut.docx", _half(read("riktlinjer.docx")), DOCX, "truncated DOCX", {"corrupt"}),
        ("budget.xlsx", _half(read("riktlinjer.xlsx")), XLSX, "truncated XLSX", {"corrupt"}),
        ("bilder.pptx", _half(read("riktlinjer.pptx")), PPTX, "truncated PPTX", {"corrupt"}),
        ("skanning.png", _png()[:60], "image/png", "truncated PNG", {"corrupt"}),
        ("foto.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 30, "image/jpeg", "truncated JPEG", {"corrupt"}),
        ("bomb.docx", read("zip-bomb.docx"), DOCX, "zip bomb", {"unpack_limit"}),
        ("bomb-ratio.docx", read("zip-bomb-ratio.docx"), DOCX, "zip bomb by ratio", {"unpack_limit"}),
        # Audio's content is the transcription provider's to judge; without a model that is what is missing.
        ("anteckning.wav", read("riktlinjer.wav")[:40], "audio/wav", "truncated WAV", {"no_transcription_model"}),
        ("tom.pdf", b"", "application/pdf", "0-byte PDF", {"empty"}),
        ("tom.txt", b"", "text/plain", "0-byte text", {"empty"}),
        ("word.pdf", read("docx-named.pdf"), "application/pdf", "DOCX named .pdf", {"type_mismatch"}),
        ("pdf.docx", read("riktlinjer.pdf"), DOCX, "PDF named .docx", {"type_mismatch"}),
        ("brus.xlsx", read("random.bin"), XLSX, "random bytes named .xlsx", {"unsupported_type", "type_mismatch"}),
        ("bild.png", b"%PDF-1.7\n" + b"\x00" * 40, "image/png", "PDF header named .png", {"type_mismatch", "corrupt"}),
    ]


async def test_corrupt_files_of_every_kind_fail_with_their_reason_and_none_is_left_unfinished(
        collection: Collection, queues: Queues, functions: dict[str, Any]) -> None:
    uploaded = {await upload(collection, queues, data, name, declared): (what, codes)
                for name, data, declared, what, codes in cases()}
    good = await upload(collection, queues, TEXT.encode(), "riktlinjer.txt", "text/plain")
    messages = notifications(queues, len(uploaded) + 1)
    assert await invoke(functions["ingest"], queues.event(messages)) == {"batchItemFailures": []}

    outcomes = {}
    for blob_id, (what, _) in uploaded.items():
        row = await blob(collection, blob_id)
        outcomes[what] = (row.status, row.error_code, row.error_message)
    wrong = {what: outcome for (what, codes), outcome in zip(uploaded.values(), outcomes.values(), strict=True)
             if outcome[0] != InfoBlobStatus.failed or outcome[1] not in codes or not outcome[2]}
    assert not wrong, wrong
    async with UnitOfWork(collection.member.tenant_id) as uow:
        chunks = await uow.session.scalar(select(func.count()).select_from(Chunk).where(
            Chunk.info_blob_id.in_(list(uploaded))))
    assert chunks == 0
    assert (await blob(collection, good)).status == InfoBlobStatus.embedding


async def test_a_failed_documents_reason_is_what_the_api_shows(collection: Collection, queues: Queues,
                                                               functions: dict[str, Any], client: Any) -> None:
    blob_id = await upload(collection, queues, b"", "tom.pdf", "application/pdf")
    assert await invoke(functions["ingest"], queues.event(notifications(queues, 1))) == {"batchItemFailures": []}
    r = await client.get(f"/api/v1/info-blobs/{blob_id}/", headers=collection.member.headers)
    assert r.status_code == 200, r.text
    shown = r.json()
    assert shown["status"] == "failed", shown
    assert shown["error_code"] == "empty" and "empty" in shown["error_message"], shown
    assert uuid.UUID(shown["id"]) == blob_id


async def test_the_upload_route_refuses_them_by_their_content_or_they_fail_the_same_way(
        collection: Collection, queues: Queues, functions: dict[str, Any], client: Any) -> None:
    """The direct upload reads the first bytes: a file that is not what it claims is a 415 there, an empty one a
    422 naming `file`; a damaged inside is only found by ingestion, which fails it as above."""
    accepted, refused = {}, {}
    for name, data, declared, what, codes in cases():
        r = await client.post(f"/api/v1/groups/{collection.group_id}/info-blobs/upload/",
                              headers=collection.member.headers, files={"file": (name, data, declared)})
        if r.status_code == 202:
            accepted[uuid.UUID(r.json()["id"])] = (what, codes)
        elif not data:
            refused[what] = (r.status_code, r.json()["details"][0]["field"]) == (422, "file")
        else:
            refused[what] = r.status_code == 415 and r.json()["code"] in codes
    assert all(refused.values()) and len(refused) == 6, refused
    assert await invoke(functions["ingest"], queues.event(notifications(queues, len(accepted)))) == {
        "batchItemFailures": []}
    wrong = {}
    for blob_id, (what, codes) in accepted.items():
        row = await blob(collection, blob_id)
        if row.status != InfoBlobStatus.failed or row.error_code not in codes:
            wrong[what] = (row.status, row.error_code)
    assert not wrong and len(accepted) == 9, wrong
