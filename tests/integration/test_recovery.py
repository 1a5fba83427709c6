"""Resuming documents whose pipeline messages were lost (eneo.ingestion.recovery), over the real pipeline:
moto's S3 and SQS, Postgres, Redis and the local embedder, the handlers run as Lambda runs them
(see tests/integration/pipeline.py, whose fixtures and helpers these tests share)."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from eneo.core import storage
from eneo.core.db import UnitOfWork
from eneo.core.settings import Settings, get_settings
from eneo.ingestion.recovery import resume_unfinished
from eneo.knowledge.models import Chunk, InfoBlob, InfoBlobStatus
from tests.integration.pipeline import (  # noqa: F401 (fixtures)
    EMBED_ARN,
    TEXT,
    Collection,
    Queues,
    age,
    blob,
    collection,
    functions,
    invoke,
    notifications,
    queues,
    restore_settings,
    run_embed,
    settings_restored,
    statuses,
    upload,
)


def lose(q: Queues, url: str) -> int:
    """What a stop of the local stack does to a queue: every message in it is gone."""
    lost = 0
    while messages := q.receive(url, expect=99, wait=1.5):
        for m in messages:
            q.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        lost += len(messages)
    return lost


def text(n: int) -> bytes:
    """Distinct content per document (the same bytes twice in one collection are a duplicate)."""
    return f"Dokument {n}. {TEXT}".encode()


async def drain(q: Queues, functions: dict[str, Any]) -> tuple[int, int]:  # noqa: F811
    """Run ingest, then embed, on whatever their queues hold, until both are empty; the messages handled."""
    handled = [0, 0]
    while True:
        moved = False
        for i, (url, name, arn) in enumerate(((q.ingest_url, "ingest", None), (q.embed_url, "embed", EMBED_ARN))):
            messages = q.receive(url, expect=99, wait=1.0)
            if messages:
                response = await invoke(functions[name], q.event(messages, arn=arn))
                assert response == {"batchItemFailures": []}
                q.delete_done(url, messages, response)
                handled[i] += len(messages)
                moved = True
        if not moved:
            return handled[0], handled[1]


async def set_status(c: Collection, blob_id: uuid.UUID, status: InfoBlobStatus, **values: Any) -> None:
    async with UnitOfWork(c.member.tenant_id) as uow:
        await uow.session.execute(update(InfoBlob).where(InfoBlob.id == blob_id).values(status=status, **values))


async def chunk_indexes(c: Collection, blob_id: uuid.UUID) -> list[int]:
    async with UnitOfWork(c.member.tenant_id) as uow:
        return list((await uow.session.scalars(
            select(Chunk.chunk_index).where(Chunk.info_blob_id == blob_id).order_by(Chunk.chunk_index))).all())


async def new_row(c: Collection, *, content_hash: str | None = None, object_key: str | None = None) -> uuid.UUID:
    """A document row alone, `uploading`, with no object stored: a presigned upload that has not arrived
    (no hash) or a direct upload whose bytes never reached storage (hashed; stopped between its commit and
    its PUT)."""
    blob_id = uuid.uuid4()
    async with UnitOfWork(c.member.tenant_id) as uow:
        uow.session.add(InfoBlob(id=blob_id, tenant_id=c.member.tenant_id, group_id=c.group_id,
                                 uploaded_by=c.member.id, title="på väg", filename="på väg.pdf",
                                 declared_type="application/pdf", status=InfoBlobStatus.uploading,
                                 content_hash=content_hash,
                                 object_key=storage.object_key(c.member.tenant_id, c.group_id, blob_id)
                                 if object_key is None else object_key))
    return blob_id


async def backdate(c: Collection, blob_id: uuid.UUID, seconds: float) -> None:
    """As if the document had been created, and last changed, `seconds` ago."""
    async with UnitOfWork(c.member.tenant_id) as uow:
        await uow.session.execute(update(InfoBlob).where(InfoBlob.id == blob_id).values(
            created_at=func.now() - timedelta(seconds=seconds), updated_at=func.now() - timedelta(seconds=seconds)))


async def ingest_queued(c: Collection, q: Queues, functions: dict[str, Any], blob_id: uuid.UUID) -> None:  # noqa: F811
    """Run ingest on what the ingest queue holds, up to this document's S3 event, and delete it all (earlier
    events in it, the bucket's test event say, would come back in the middle of a later step)."""
    got: list[dict[str, Any]] = []
    while not any(str(blob_id) in m["Body"] for m in got):
        more = q.receive(q.ingest_url, expect=1, wait=5.0)
        assert more, "the document's S3 event did not come"
        got += more
    response = await invoke(functions["ingest"], q.event(got))
    assert response == {"batchItemFailures": []}
    q.delete_done(q.ingest_url, got, response)


async def ingested_with_embed_work_lost(c: Collection, q: Queues, functions: dict[str, Any], n: int,  # noqa: F811
                                        embedded_batches: int) -> uuid.UUID:
    """A document ingest has run for, of whose embed messages only the first `embedded_batches` ran."""
    blob_id = await upload(c, q, text(n) * 4, f"inbaddning-{n}.txt", "text/plain")
    await ingest_queued(c, q, functions, blob_id)
    work = q.receive(q.embed_url, expect=2)
    assert len(work) >= 2
    if embedded_batches:
        assert await invoke(functions["embed"], q.event(work[:embedded_batches], arn=EMBED_ARN)) == {
            "batchItemFailures": []}
    for m in work:  # the others lost
        q.sqs.delete_message(QueueUrl=q.embed_url, ReceiptHandle=m["ReceiptHandle"])
    return blob_id


async def test_documents_left_at_every_stage_reach_a_final_state_and_others_are_untouched(
        collection: Collection, queues: Queues, functions: dict[str, Any]) -> None:  # noqa: F811
    c, q = collection, queues
    # Ready before the stop: the whole pipeline ran.
    done = await upload(c, q, text(1), "klar.txt", "text/plain")
    await ingest_queued(c, q, functions, done)
    total = (await blob(c, done)).chunks_total
    await run_embed(q, functions, -(-total // get_settings().embed_batch_size))
    assert (await blob(c, done)).status == InfoBlobStatus.ready
    # Embedding: ingest ran, and one batch of its embed work too (some vectors) or none (no vectors).
    embedding = await ingested_with_embed_work_lost(c, q, functions, 2, embedded_batches=1)
    unembedded = await ingested_with_embed_work_lost(c, q, functions, 7, embedded_batches=0)
    # Embedding without a single chunk (an inconsistent row): its file is ingested again.
    chunkless = await upload(c, q, text(8), "utan-bitar.txt", "text/plain")
    await set_status(c, chunkless, InfoBlobStatus.embedding, attempts=1)
    # Uploading with its object stored, and processing (claimed, then the function died): events lost.
    waiting = await upload(c, q, text(3), "vantar.txt", "text/plain")
    claimed = await upload(c, q, text(4), "pabörjad.txt", "text/plain")
    await set_status(c, claimed, InfoBlobStatus.processing, attempts=1)
    # Uploading without an object: a presigned upload that may still arrive, one whose link expired long
    # ago, and a direct upload whose bytes never reached storage.
    on_its_way = await new_row(c)
    expired = await new_row(c)
    await backdate(c, expired, get_settings().upload_url_expiry_seconds + 6 * 60)
    never_stored = await new_row(c, content_hash="1" * 64)
    assert lose(q, q.ingest_url) >= 3
    lose(q, q.embed_url)
    partly = await blob(c, embedding)
    assert partly.status == InfoBlobStatus.embedding and 0 < partly.chunks_embedded < partly.chunks_total
    assert (await blob(c, unembedded)).chunks_embedded == 0
    before = await blob(c, done)

    # Twice, as two starts in a row would: the second finds the same work (processing is queued now).
    resumed = [waiting, claimed, chunkless, embedding, unembedded]
    assert await resume_unfinished(c.member.tenant_id, older_than_seconds=0) == len(resumed)
    assert (await blob(c, claimed)).status == InfoBlobStatus.queued  # its file is stored: it waits for ingest
    assert (await blob(c, chunkless)).status == InfoBlobStatus.queued
    assert await resume_unfinished(c.member.tenant_id, older_than_seconds=0) == len(resumed)
    retries = q.receive(q.ingest_url, expect=6, wait=5.0)
    assert sorted(json.loads(m["Body"])["retry"]["blob_id"] for m in retries) == sorted(
        str(b) for b in [waiting, claimed, chunkless] * 2)
    response = await invoke(functions["ingest"], q.event(retries))
    assert response == {"batchItemFailures": []}
    q.delete_done(q.ingest_url, retries, response)
    await drain(q, functions)

    for blob_id in resumed:
        ready = await blob(c, blob_id)
        assert ready.status == InfoBlobStatus.ready, blob_id
        assert ready.chunks_embedded == ready.chunks_total > 0
        assert await chunk_indexes(c, blob_id) == list(range(ready.chunks_total))  # one set of chunks
    assert (await blob(c, waiting)).attempts == 1 and (await blob(c, claimed)).attempts == 2  # claimed once more
    assert (await statuses(c, claimed))[0] == "queued"  # the uploader sees it start again
    after = await blob(c, done)
    assert (after.status, after.updated_at, after.attempts) == (InfoBlobStatus.ready, before.updated_at, 1)
    assert (await blob(c, on_its_way)).status == InfoBlobStatus.uploading  # its link is still valid
    lost = await blob(c, expired)
    assert (lost.status, lost.error_code) == (InfoBlobStatus.failed, "upload_expired")
    gone = await blob(c, never_stored)
    assert (gone.status, gone.error_code) == (InfoBlobStatus.failed, "object_missing")
    assert "upload it again" in (gone.error_message or "")
    assert (await statuses(c, never_stored))[-1] == "failed"  # the uploader hears of it
    async with UnitOfWork(c.member.tenant_id) as uow:
        vectors = await uow.session.scalar(select(func.count()).where(
            Chunk.info_blob_id.in_(resumed), Chunk.embedding.is_(None)))
    assert vectors == 0


async def test_the_resume_uses_the_settings_it_is_given_not_the_process_environment(
        collection: Collection, queues: Queues, functions: dict[str, Any],  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The local stack resumes from its own process, whose environment names no bucket or queue: it
    passes the settings its functions get, and every storage call of the resume must use them (reading
    the bucket from the process's settings failed every HEAD with ParamValidationError)."""
    c, q = collection, queues
    waiting = await upload(c, q, text(10), "vantar.txt", "text/plain")
    claimed = await upload(c, q, text(11), "pabörjad.txt", "text/plain")
    await set_status(c, claimed, InfoBlobStatus.processing, attempts=1)
    lose(q, q.ingest_url)
    given = Settings(documents_bucket=q.bucket, ingest_queue_url=q.ingest_url, embed_queue_url=q.embed_url)
    for name in ("DOCUMENTS_BUCKET", "INGEST_QUEUE_URL", "EMBED_QUEUE_URL"):
        monkeypatch.delenv(name)
    restore_settings()
    assert get_settings().documents_bucket == ""

    assert await resume_unfinished(c.member.tenant_id, older_than_seconds=0, settings=given) == 2

    monkeypatch.setenv("DOCUMENTS_BUCKET", q.bucket)  # the functions have theirs
    monkeypatch.setenv("INGEST_QUEUE_URL", q.ingest_url)
    monkeypatch.setenv("EMBED_QUEUE_URL", q.embed_url)
    restore_settings()
    await drain(q, functions)
    assert [(await blob(c, b)).status for b in (waiting, claimed)] == [InfoBlobStatus.ready] * 2


async def test_a_document_that_cannot_be_resumed_does_not_hold_back_the_others(
        collection: Collection, queues: Queues, functions: dict[str, Any],  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    """One document's resume fails (here its stored key is one S3 refuses to be asked about, raising
    before any request, as a misconfigured bucket did): it is logged by id and error type, and the
    documents before and after it, at every stage, are resumed all the same."""
    c, q = collection, queues
    embedding = await ingested_with_embed_work_lost(c, q, functions, 22, embedded_batches=1)
    first = await upload(c, q, text(20), "forst.txt", "text/plain")
    broken = await new_row(c, object_key="")
    claimed = await upload(c, q, text(21), "pabörjad.txt", "text/plain")
    await set_status(c, claimed, InfoBlobStatus.processing, attempts=1)
    await backdate(c, embedding, 1)  # the oldest first: the broken one is resumed between the others
    try:
        lose(q, q.ingest_url)

        with caplog.at_level(logging.INFO, logger="eneo.ingestion"):
            assert await resume_unfinished(c.member.tenant_id, older_than_seconds=0) == 3
        await drain(q, functions)

        assert [(await blob(c, b)).status for b in (first, claimed, embedding)] == [InfoBlobStatus.ready] * 3
        assert (await blob(c, broken)).status == InfoBlobStatus.uploading
        [error] = [r for r in caplog.records if r.getMessage() == "document not resumed"]
        assert (error.blob_id, error.error, error.status) == (  # type: ignore[attr-defined]
            str(broken), "ParamValidationError", "uploading")
        summary = [r for r in caplog.records if r.getMessage() == "unfinished ingestion resumed"]
        assert summary and summary[-1].errors == 1  # type: ignore[attr-defined]
        assert summary[-1].levelno == logging.ERROR
    finally:
        async with UnitOfWork(c.member.tenant_id) as uow:  # object keys are unique: "" must not stay taken
            await uow.session.execute(delete(InfoBlob).where(InfoBlob.id == broken))


async def test_only_documents_unchanged_for_the_given_time_are_resumed(
        collection: Collection, queues: Queues, functions: dict[str, Any]) -> None:  # noqa: F811
    c, q = collection, queues
    blob_id = await upload(c, q, text(5), "pågår.txt", "text/plain")
    await set_status(c, blob_id, InfoBlobStatus.processing, attempts=1)
    lose(q, q.ingest_url)

    assert await resume_unfinished(c.member.tenant_id, older_than_seconds=600) == 0  # may still be running
    assert (await blob(c, blob_id)).status == InfoBlobStatus.processing
    assert q.receive(q.ingest_url, expect=1, wait=1.5) == []

    await age(c, blob_id, 601)
    assert await resume_unfinished(c.member.tenant_id, older_than_seconds=600) == 1
    await drain(q, functions)
    assert (await blob(c, blob_id)).status == InfoBlobStatus.ready


async def test_a_document_embedded_but_not_yet_counted_is_finished(
        collection: Collection, queues: Queues, functions: dict[str, Any]) -> None:  # noqa: F811
    """Stopped between writing its last vectors and counting them: nothing is left to embed, and one
    message makes embed count them and mark the document ready."""
    c, q = collection, queues
    blob_id = await upload(c, q, text(6), "nästan.txt", "text/plain")
    await drain(q, functions)
    await set_status(c, blob_id, InfoBlobStatus.embedding, chunks_embedded=0, processed_at=None)

    assert await resume_unfinished(c.member.tenant_id, older_than_seconds=0) == 1
    [message] = q.receive(q.embed_url, expect=99, wait=2.0)
    assert json.loads(message["Body"])["blob_id"] == str(blob_id)
    assert await invoke(functions["embed"], q.event([message], arn=EMBED_ARN)) == {"batchItemFailures": []}
    done = await blob(c, blob_id)
    assert done.status == InfoBlobStatus.ready and done.chunks_embedded == done.chunks_total
