"""Resuming documents whose pipeline messages were lost (eneo.ingestion.recovery), over the real pipeline:
moto's S3 and SQS, Postgres, Redis and the local embedder, the handlers run as Lambda runs them
(see tests/integration/pipeline.py, whose fixtures and helpers these tests share)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import func, select, update

from eneo.core.db import UnitOfWork
from eneo.core.settings import get_settings
from eneo.ingestion.recovery import resume_unfinished
from eneo.knowledge import storage
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


async def test_documents_left_in_each_state_reach_ready_and_others_are_untouched(
        collection: Collection, queues: Queues, functions: dict[str, Any]) -> None:  # noqa: F811
    c, q = collection, queues
    # Ready before the stop: the whole pipeline ran.
    done = await upload(c, q, text(1), "klar.txt", "text/plain")
    assert await invoke(functions["ingest"], q.event(notifications(q, 1))) == {"batchItemFailures": []}
    total = (await blob(c, done)).chunks_total
    await run_embed(q, functions, -(-total // get_settings().embed_batch_size))
    assert (await blob(c, done)).status == InfoBlobStatus.ready
    # Embedding: ingest ran, one batch of its embed work too; the rest was lost.
    embedding = await upload(c, q, text(2) * 4, "inbaddning.txt", "text/plain")
    [created] = [m for m in q.receive(q.ingest_url) if str(embedding) in m["Body"]]
    assert await invoke(functions["ingest"], q.event([created])) == {"batchItemFailures": []}
    work = q.receive(q.embed_url, expect=2)
    assert len(work) >= 2
    assert await invoke(functions["embed"], q.event(work[:1], arn=EMBED_ARN)) == {"batchItemFailures": []}
    for m in work:  # the first done, the others lost
        q.sqs.delete_message(QueueUrl=q.embed_url, ReceiptHandle=m["ReceiptHandle"])
    # Uploading with its object stored, and processing (claimed, then the function died): events lost.
    waiting = await upload(c, q, text(3), "vantar.txt", "text/plain")
    claimed = await upload(c, q, text(4), "pabörjad.txt", "text/plain")
    await set_status(c, claimed, InfoBlobStatus.processing, attempts=1)
    # Uploading without an object: a presigned upload that has not arrived (yet).
    missing = uuid.uuid4()
    async with UnitOfWork(c.member.tenant_id) as uow:
        uow.session.add(InfoBlob(id=missing, tenant_id=c.member.tenant_id, group_id=c.group_id,
                                 uploaded_by=c.member.id, title="på väg", filename="på väg.pdf",
                                 declared_type="application/pdf", status=InfoBlobStatus.uploading,
                                 object_key=storage.object_key(c.member.tenant_id, c.group_id, missing)))
    assert lose(q, q.ingest_url) >= 2
    lose(q, q.embed_url)
    partly = await blob(c, embedding)
    assert partly.status == InfoBlobStatus.embedding and 0 < partly.chunks_embedded < partly.chunks_total
    before = await blob(c, done)

    # Twice, as two starts in a row would: the second finds the same work (processing is uploading now).
    assert await resume_unfinished(c.member.tenant_id, older_than_seconds=0) == 3
    assert (await blob(c, claimed)).status == InfoBlobStatus.uploading
    assert await resume_unfinished(c.member.tenant_id, older_than_seconds=0) == 3
    retries = q.receive(q.ingest_url, expect=4, wait=5.0)
    assert sorted(json.loads(m["Body"])["retry"]["blob_id"] for m in retries) == sorted(
        [str(waiting), str(waiting), str(claimed), str(claimed)])
    response = await invoke(functions["ingest"], q.event(retries))
    assert response == {"batchItemFailures": []}
    q.delete_done(q.ingest_url, retries, response)
    await drain(q, functions)

    for blob_id in (waiting, claimed, embedding):
        ready = await blob(c, blob_id)
        assert ready.status == InfoBlobStatus.ready, blob_id
        assert ready.chunks_embedded == ready.chunks_total > 0
        assert await chunk_indexes(c, blob_id) == list(range(ready.chunks_total))  # one set of chunks
    assert (await blob(c, waiting)).attempts == 1 and (await blob(c, claimed)).attempts == 2  # claimed once more
    assert (await statuses(c, claimed))[0] == "uploading"  # the uploader sees it start again
    after = await blob(c, done)
    assert (after.status, after.updated_at, after.attempts) == (InfoBlobStatus.ready, before.updated_at, 1)
    assert (await blob(c, missing)).status == InfoBlobStatus.uploading
    async with UnitOfWork(c.member.tenant_id) as uow:
        vectors = await uow.session.scalar(select(func.count()).where(
            Chunk.info_blob_id.in_([waiting, claimed, embedding]), Chunk.embedding.is_(None)))
    assert vectors == 0


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
