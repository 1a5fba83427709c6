"""The ingestion pipeline in-process (driven as tests.integration.pipeline says), with real Postgres,
Redis and the local all-MiniLM-L6-v2 embedder."""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import String, create_engine, delete, func, select, update

from eneo.core import storage
from eneo.core.db import UnitOfWork
from eneo.core.queue_messages import RetryRequest
from eneo.core.settings import get_settings
from eneo.ingestion import embed as embed_module
from eneo.ingestion import ingest as ingest_module
from eneo.knowledge.models import Chunk, Group, InfoBlob, InfoBlobStatus
from tests.fakes.openai_extras import FakeOpenAIExtras
from tests.integration import pipeline
from tests.integration.pipeline import (
    TEXT,
    Collection,
    Queues,
    blob,
    fake_provider,
    invoke,
    notifications,
    run_embed,
    statuses,
    upload,
)

DOCUMENTS = Path(__file__).resolve().parents[1] / "fixtures" / "documents"
TRANSCRIPT = "Hej och välkommen. Idag pratar vi om hemtjänsten och hur man ansöker om den."


queues, functions, collection = pipeline.queues, pipeline.functions, pipeline.collection
settings_restored = pipeline.settings_restored  # autouse: tests here change settings


async def chunk_rows(c: Collection, blob_id: uuid.UUID) -> list[Any]:
    async with UnitOfWork(c.member.tenant_id) as uow:
        return list((await uow.session.execute(
            select(Chunk.chunk_index, Chunk.text, Chunk.embedding, Chunk.embedding_model_id)
            .where(Chunk.info_blob_id == blob_id).order_by(Chunk.chunk_index))).all())





async def test_upload_to_ready_with_chunks_and_vectors(collection: Collection, queues: Queues,
                                                       functions: dict[str, Any]) -> None:
    blob_id = await upload(collection, queues, TEXT.encode(), "riktlinjer.txt", "text/plain")
    messages = notifications(queues, 1)
    bodies = [json.loads(m["Body"]) for m in messages]
    assert any(b.get("Event") == "s3:TestEvent" for b in bodies)  # handled like any message: ignored

    response = await invoke(functions["ingest"], queues.event(messages))
    assert response == {"batchItemFailures": []}
    queues.delete_done(queues.ingest_url, messages, response)
    stored = await blob(collection, blob_id)
    assert stored.status == InfoBlobStatus.embedding
    assert stored.content_type == "text/plain" and stored.size_bytes == len(TEXT.encode())
    assert stored.chunks_total > 1 and stored.chunks_embedded == 0 and stored.attempts == 1

    batches = math.ceil(stored.chunks_total / get_settings().embed_batch_size)
    await run_embed(queues, functions, batches)

    done = await blob(collection, blob_id)
    assert done.status == InfoBlobStatus.ready and done.processed_at is not None
    assert done.chunks_embedded == done.chunks_total and done.embedding_model_id == collection.model_id
    rows = await chunk_rows(collection, blob_id)
    assert [r.chunk_index for r in rows] == list(range(done.chunks_total))
    assert all("hemtjänst" in r.text or "Biståndshandläggaren" in r.text for r in rows)
    for row in rows:
        assert row.embedding_model_id == collection.model_id
        assert len(row.embedding) == 384 and abs(sum(x * x for x in row.embedding) - 1) < 1e-3
    assert (await statuses(collection, blob_id))[0] == "processing"
    assert (await statuses(collection, blob_id))[-1] == "ready"
    assert "embedding" in await statuses(collection, blob_id)


async def test_a_documents_own_title_replaces_the_file_name_but_not_a_title_someone_gave(
        collection: Collection, queues: Queues, functions: dict[str, Any]) -> None:
    """Citations said `D33.md` for a file whose first line is its title: ingestion now takes the document's
    own title (here a Markdown `# Title`) when the title is still the file name."""
    text_ = "# Snöröjning i Norrvik\n\nGator plogas när snödjupet är över fem centimeter.\n"
    named = await upload(collection, queues, text_.encode(), "D33.md", "text/markdown")
    titled = await upload(collection, queues, (text_ + "Bilaga.\n").encode(), "D34.md", "text/markdown",
                          title="Plogning, beslut 2026")
    messages = notifications(queues, 2)
    assert await invoke(functions["ingest"], queues.event(messages)) == {"batchItemFailures": []}
    assert (await blob(collection, named)).title == "Snöröjning i Norrvik"
    assert (await blob(collection, titled)).title == "Plogning, beslut 2026"
    assert (await blob(collection, named)).filename == "D33.md"


async def test_a_documents_language_is_detected_unless_given_and_its_chunks_are_indexed_in_it(
        collection: Collection, queues: Queues, functions: dict[str, Any]) -> None:
    """Swedish text is stemmed as Swedish ("riktlinjer" is indexed as "riktlinje" is); English and other
    text as written; a language given at upload is kept, whatever the text looks like."""
    english = ("The municipality's home care is for those who need help with daily life. It is applied for "
               "at the office, and the decision can be appealed within three weeks.")
    swedish = await upload(collection, queues, TEXT.encode(), "riktlinjer.txt", "text/plain")
    english_ = await upload(collection, queues, english.encode(), "home-care.txt", "text/plain")
    given = await upload(collection, queues, (TEXT + " Bilaga.").encode(), "bilaga.txt", "text/plain",
                         language="other")
    assert await invoke(functions["ingest"], queues.event(notifications(queues, 3))) == {"batchItemFailures": []}
    assert [(await blob(collection, b)).language for b in (swedish, english_, given)] == ["sv", "en", "other"]
    async with UnitOfWork(collection.member.tenant_id) as uow:
        configs = dict((await uow.session.execute(
            select(Chunk.info_blob_id, func.min(func.cast(Chunk.ts_config, String)))
            .group_by(Chunk.info_blob_id))).all())
        # "Riktlinjer" is indexed as the stem of "riktlinje" in the Swedish document only.
        singular = dict((await uow.session.execute(
            select(Chunk.info_blob_id, func.count()).where(Chunk.tsv.op("@@")(func.to_tsquery("swedish", "riktlinje")))
            .group_by(Chunk.info_blob_id))).all())
    assert [configs[b] for b in (swedish, english_, given)] == ["swedish", "simple", "simple"]
    assert singular.get(swedish, 0) >= 1 and given not in singular


async def test_the_same_event_twice_claims_once_and_duplicates_no_chunk(collection: Collection, queues: Queues,
                                                                        functions: dict[str, Any]) -> None:
    blob_id = await upload(collection, queues, TEXT.encode(), "a.txt", "text/plain")
    messages = notifications(queues, 1)
    first = await invoke(functions["ingest"], queues.event(messages))
    again = await invoke(functions["ingest"], queues.event(messages))  # at-least-once delivery
    assert first == again == {"batchItemFailures": []}
    stored = await blob(collection, blob_id)
    assert stored.attempts == 1 and stored.status == InfoBlobStatus.embedding
    assert len(await chunk_rows(collection, blob_id)) == stored.chunks_total
    assert (await statuses(collection, blob_id)).count("processing") == 1
    # One set of embed messages: the second delivery did nothing.
    embed_messages = queues.receive(queues.embed_url, expect=99, wait=2.0)
    assert len(embed_messages) == math.ceil(stored.chunks_total / get_settings().embed_batch_size)

    # Embed messages delivered twice: vectors written once, counts recounted (not added up).
    event = queues.event(embed_messages)
    assert await invoke(functions["embed"], event) == {"batchItemFailures": []}
    assert await invoke(functions["embed"], event) == {"batchItemFailures": []}
    done = await blob(collection, blob_id)
    assert done.status == InfoBlobStatus.ready and done.chunks_embedded == done.chunks_total
    assert (await statuses(collection, blob_id)).count("ready") == 1


async def test_same_content_twice_is_a_duplicate_naming_the_first(collection: Collection, queues: Queues,
                                                                 functions: dict[str, Any]) -> None:
    first = await upload(collection, queues, TEXT.encode(), "one.txt", "text/plain", title="Riktlinjer 2026")
    await invoke(functions["ingest"], queues.event(notifications(queues, 1)))
    second = await upload(collection, queues, TEXT.encode(), "copy.txt", "text/plain", title="Kopia")
    messages = queues.receive(queues.ingest_url, expect=1)
    assert await invoke(functions["ingest"], queues.event(messages)) == {"batchItemFailures": []}

    dup = await blob(collection, second)
    assert dup.status == InfoBlobStatus.failed and dup.error_code == "duplicate_content"
    assert "Riktlinjer 2026" in (dup.error_message or "")
    assert await chunk_rows(collection, second) == []
    assert (await blob(collection, first)).status == InfoBlobStatus.embedding
    with pytest.raises(queues.s3.exceptions.ClientError):  # the copy's object is deleted
        queues.s3.head_object(Bucket=queues.bucket, Key=dup.object_key)
    assert (await statuses(collection, second))[-1] == "failed"


async def test_a_corrupt_file_fails_with_a_reason_and_the_other_record_succeeds(
        collection: Collection, queues: Queues, functions: dict[str, Any]) -> None:
    corrupt = await upload(collection, queues, (DOCUMENTS / "truncated.pdf").read_bytes(), "rapport.pdf",
                           "application/pdf")
    good = await upload(collection, queues, (DOCUMENTS / "riktlinjer.docx").read_bytes(), "riktlinjer.docx",
                        "application/vnd.openxmlformats-officedocument.wordprocessingml.document")
    messages = notifications(queues, 2)
    corrupt_first = sorted(messages, key=lambda m: str(corrupt) not in m["Body"])
    assert await invoke(functions["ingest"], queues.event(corrupt_first)) == {"batchItemFailures": []}

    failed = await blob(collection, corrupt)
    assert failed.status == InfoBlobStatus.failed and failed.error_code == "corrupt"
    assert failed.error_message and failed.chunks_total == 0
    ok = await blob(collection, good)
    assert ok.status == InfoBlobStatus.embedding and ok.chunks_total >= 1
    assert ok.content_type == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


async def test_an_unknown_or_bad_record_is_dropped_and_blocks_nothing(collection: Collection, queues: Queues,
                                                                      functions: dict[str, Any]) -> None:
    blob_id = await upload(collection, queues, TEXT.encode(), "x.txt", "text/plain")
    messages = notifications(queues, 1)
    junk = [{"MessageId": "junk-1", "ReceiptHandle": "r", "Body": "{not json"},
            {"MessageId": "junk-2", "ReceiptHandle": "r",
             "Body": json.dumps({"Records": [{"eventName": "ObjectCreated:Put",
                                              "s3": {"bucket": {"name": queues.bucket},
                                                     "object": {"key": "elsewhere/x.txt"}}}]})}]
    assert await invoke(functions["ingest"], queues.event(junk + messages)) == {"batchItemFailures": []}
    assert (await blob(collection, blob_id)).status == InfoBlobStatus.embedding


async def test_a_retryable_failure_is_retried_and_on_the_last_receive_fails_the_blob(
        collection: Collection, queues: Queues, functions: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    blob_id = await upload(collection, queues, TEXT.encode(), "y.txt", "text/plain")
    [message] = [m for m in notifications(queues, 1) if str(blob_id) in m["Body"]]
    # The embed queue is unreachable (removed): sending the embedding work fails, which a retry may fix.
    monkeypatch.setenv("EMBED_QUEUE_URL", queues.embed_url + "-gone")
    get_settings.cache_clear()

    first = await invoke(functions["ingest"], queues.event([message]))
    assert first == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    stored = await blob(collection, blob_id)
    assert stored.status == InfoBlobStatus.processing and stored.attempts == 1  # left for the redelivery

    last = dict(message, Attributes={"ApproximateReceiveCount": str(get_settings().ingest_max_attempts)})
    response = await invoke(functions["ingest"], queues.event([last]))
    assert response == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}  # on to the DLQ
    failed = await blob(collection, blob_id)
    assert failed.status == InfoBlobStatus.failed and failed.error_code == "retries_exhausted"
    assert failed.attempts == 2 and "Retry" in (failed.error_message or "")
    assert (await statuses(collection, blob_id))[-1] == "failed"


async def test_a_redelivery_takes_over_a_blob_left_processing(collection: Collection, queues: Queues,
                                                              functions: dict[str, Any],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    blob_id = await upload(collection, queues, TEXT.encode(), "z.txt", "text/plain")
    [message] = [m for m in notifications(queues, 1) if str(blob_id) in m["Body"]]
    monkeypatch.setenv("EMBED_QUEUE_URL", queues.embed_url + "-gone")
    get_settings.cache_clear()
    assert (await invoke(functions["ingest"], queues.event([message])))["batchItemFailures"]

    monkeypatch.setenv("EMBED_QUEUE_URL", queues.embed_url)
    get_settings.cache_clear()
    again = dict(message, Attributes={"ApproximateReceiveCount": "2"})
    assert await invoke(functions["ingest"], queues.event([again])) == {"batchItemFailures": []}
    stored = await blob(collection, blob_id)
    assert stored.status == InfoBlobStatus.embedding and stored.attempts == 2
    async with UnitOfWork(collection.member.tenant_id) as uow:
        count = await uow.session.scalar(select(func.count()).where(Chunk.info_blob_id == blob_id))
    assert count == stored.chunks_total


async def test_minio_webhook_records_are_ingested(collection: Collection, queues: Queues,
                                                  functions: dict[str, Any]) -> None:
    blob_id = await upload(collection, queues, TEXT.encode(), "m.txt", "text/plain")
    key = storage.object_key(collection.member.tenant_id, collection.group_id, blob_id)
    event = {"EventName": "s3:ObjectCreated:Put", "Key": f"{queues.bucket}/{key}", "Records": [{
        "eventVersion": "2.0", "eventSource": "minio:s3", "awsRegion": "", "eventName": "s3:ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": queues.bucket, "arn": f"arn:aws:s3:::{queues.bucket}"},
               "object": {"key": key.replace("/", "%2F"), "size": len(TEXT.encode()),
                          "contentType": "text/plain"}}}]}
    assert await invoke(functions["ingest"], event) == {"batchItemFailures": []}
    assert (await blob(collection, blob_id)).status == InfoBlobStatus.embedding


# --- providers: transcription and embeddings endpoints (the fake speaks OpenAI's wire format) ---------


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIExtras]:
    with FakeOpenAIExtras(dimensions=16, transcript=TRANSCRIPT) as server:
        yield server


@pytest.fixture
def fresh_fake(fake: FakeOpenAIExtras) -> FakeOpenAIExtras:
    fake.reset()
    return fake


async def _json(r: httpx.Response, status: int) -> Any:
    assert r.status_code == status, r.text
    return r.json()


async def test_audio_needs_a_transcription_model_and_a_retry_then_transcribes_it(
        collection: Collection, queues: Queues, functions: dict[str, Any], client: httpx.AsyncClient,
        fresh_fake: FakeOpenAIExtras) -> None:
    blob_id = await upload(collection, queues, (DOCUMENTS / "riktlinjer.wav").read_bytes(), "samtal.wav",
                           "audio/wav")
    await invoke(functions["ingest"], queues.event(notifications(queues, 1)))
    failed = await blob(collection, blob_id)
    assert failed.status == InfoBlobStatus.failed and failed.error_code == "no_transcription_model"
    assert "whisper" in (failed.error_message or "")

    admin = collection.member
    provider_id = await fake_provider(client, admin, fresh_fake)
    await _json(await client.post("/api/v1/transcription-models/", headers=admin.headers, json={
        "provider_id": provider_id, "name": "whisper-1"}), 201)
    await _json(await client.post(f"/api/v1/info-blobs/{blob_id}/retry/", headers=admin.headers), 202)
    [retry] = queues.receive(queues.ingest_url)
    assert json.loads(retry["Body"]) == {"retry": {"tenant_id": str(admin.tenant_id), "blob_id": str(blob_id)}}
    assert await invoke(functions["ingest"], queues.event([retry])) == {"batchItemFailures": []}

    call = fresh_fake.transcription_calls[-1]
    assert call.model == "whisper-1" and call.filename == "samtal.wav" and call.key_ok
    stored = await blob(collection, blob_id)
    assert stored.status == InfoBlobStatus.embedding and stored.content_type == "audio/wav"
    assert "hemtjänsten" in " ".join(r.text for r in await chunk_rows(collection, blob_id))


async def provider_collection(c: Collection, client: httpx.AsyncClient, fake: FakeOpenAIExtras) -> uuid.UUID:
    """Point the collection at an embeddings endpoint of the fake provider (16 dimensions)."""
    provider_id = await fake_provider(client, c.member, fake)
    model = await _json(await client.post("/api/v1/embedding-models/", headers=c.member.headers, json={
        "provider_id": provider_id, "name": "text-embedding-fake", "dimensions": 16}), 201)
    async with UnitOfWork(c.member.tenant_id) as uow:
        group = await uow.session.get_one(Group, c.group_id)
        group.embedding_model_id = uuid.UUID(model["id"])
    return uuid.UUID(model["id"])


async def test_provider_embeddings_refused_fail_the_blob_and_unavailable_ones_are_retried(
        collection: Collection, queues: Queues, functions: dict[str, Any], client: httpx.AsyncClient,
        fresh_fake: FakeOpenAIExtras) -> None:
    model_id = await provider_collection(collection, client, fresh_fake)
    refused = await upload(collection, queues, ("Avgifter inom hemtjänsten. " * 5).encode(), "avgifter.txt",
                           "text/plain")
    down = await upload(collection, queues, b"Trygghetslarm i hemmet. " * 5, "larm.txt", "text/plain")
    ok = await upload(collection, queues, b"Matdistribution till hemmet. " * 5, "mat.txt", "text/plain")
    await invoke(functions["ingest"], queues.event(notifications(queues, 3)))
    by_blob = {json.loads(m["Body"])["blob_id"]: m for m in queues.receive(queues.embed_url, expect=3)}
    assert len(by_blob) == 3 and all(json.loads(m["Body"])["embedding_model_id"] == str(model_id)
                                     for m in by_blob.values())

    fresh_fake.fail(400, error_type="invalid_request_error")  # refused: a retry gives the same answer
    assert await invoke(functions["embed"], queues.event([by_blob[str(refused)]])) == {"batchItemFailures": []}
    failed = await blob(collection, refused)
    assert failed.status == InfoBlobStatus.failed and failed.error_code == "embedding_failed"

    fresh_fake.fail(503, times=99)  # the provider is down: every attempt of this delivery fails
    message = by_blob[str(down)]
    assert await invoke(functions["embed"], queues.event([message])) == {
        "batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert (await blob(collection, down)).status == InfoBlobStatus.embedding
    last = dict(message, Attributes={"ApproximateReceiveCount": str(get_settings().ingest_max_attempts)})
    assert (await invoke(functions["embed"], queues.event([last])))["batchItemFailures"]
    exhausted = await blob(collection, down)
    assert exhausted.status == InfoBlobStatus.failed and exhausted.error_code == "retries_exhausted"

    fresh_fake.reset()
    assert await invoke(functions["embed"], queues.event([by_blob[str(ok)]])) == {"batchItemFailures": []}
    ready = await blob(collection, ok)
    assert ready.status == InfoBlobStatus.ready and ready.embedding_model_id == model_id
    [row] = await chunk_rows(collection, ok)
    assert len(row.embedding) == 16 and abs(sum(x * x for x in row.embedding) - 1) < 1e-3


async def test_embed_work_for_a_model_the_collection_no_longer_uses_is_skipped(
        collection: Collection, queues: Queues, functions: dict[str, Any], client: httpx.AsyncClient,
        fresh_fake: FakeOpenAIExtras) -> None:
    blob_id = await upload(collection, queues, TEXT.encode(), "old-model.txt", "text/plain")
    await invoke(functions["ingest"], queues.event(notifications(queues, 1)))
    stale = queues.receive(queues.embed_url, expect=99, wait=2.0)
    await provider_collection(collection, client, fresh_fake)  # the model changed after the work was sent

    assert await invoke(functions["embed"], queues.event(stale)) == {"batchItemFailures": []}
    assert fresh_fake.embedding_calls == []
    assert all(r.embedding is None for r in await chunk_rows(collection, blob_id))
    assert (await blob(collection, blob_id)).status == InfoBlobStatus.embedding


async def test_a_model_change_during_extraction_is_what_the_chunks_and_the_embed_work_follow(
        collection: Collection, queues: Queues, functions: dict[str, Any], client: httpx.AsyncClient,
        fresh_fake: FakeOpenAIExtras, db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The collection moves to a provider model that reads 64 tokens while the document is being extracted
    (the change is made from inside extraction, through a connection of its own: the moment it happens
    in production, when the collection has no chunk of this document to re-queue yet). Embed work for
    the model read at the claim would be skipped by embed, and the document would stay `embedding`."""
    admin = collection.member
    provider_id = await fake_provider(client, admin, fresh_fake)
    new_model = uuid.UUID((await _json(await client.post("/api/v1/embedding-models/", headers=admin.headers, json={
        "provider_id": provider_id, "name": "text-embedding-short", "dimensions": 16, "max_input_tokens": 64}),
        201))["id"])
    real_extract = ingest_module.extract

    def extract_while_the_model_changes(*args: Any) -> Any:
        engine = create_engine(db.database_migration_url)
        try:
            with engine.begin() as conn:
                conn.execute(update(Group).where(Group.id == collection.group_id).values(embedding_model_id=new_model))
        finally:
            engine.dispose()
        return real_extract(*args)

    monkeypatch.setattr(ingest_module, "extract", extract_while_the_model_changes)
    blob_id = await upload(collection, queues, TEXT.encode(), "mitt-i.txt", "text/plain")
    assert await invoke(functions["ingest"], queues.event(notifications(queues, 1))) == {"batchItemFailures": []}

    stored = await blob(collection, blob_id)
    assert stored.status == InfoBlobStatus.embedding and stored.chunks_total > 1
    async with UnitOfWork(admin.tenant_id) as uow:
        longest = await uow.session.scalar(select(func.max(Chunk.token_count)).where(Chunk.info_blob_id == blob_id))
    assert longest is not None and longest <= 64 - 2  # cut for the new model ([CLS] and [SEP] added)
    messages = queues.receive(queues.embed_url, expect=99, wait=2.0)
    assert messages and {json.loads(m["Body"])["embedding_model_id"] for m in messages} == {str(new_model)}

    assert await invoke(functions["embed"], queues.event(messages)) == {"batchItemFailures": []}
    done = await blob(collection, blob_id)
    assert done.status == InfoBlobStatus.ready and done.embedding_model_id == new_model
    assert all(len(r.embedding) == 16 for r in await chunk_rows(collection, blob_id))


async def test_an_object_over_its_types_limit_put_straight_into_the_bucket_fails_too_large(
        collection: Collection, queues: Queues, functions: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """moto (like some S3-compatible stores) stores what a presigned POST's policy would refuse, so ingest
    checks the size itself: against the largest limit before reading, then against the detected type's."""
    monkeypatch.setenv("UPLOAD_MAX_BYTES", "2048")
    monkeypatch.setenv("AUDIO_MAX_BYTES", "4096")
    get_settings.cache_clear()
    over_type = await upload(collection, queues, b"Riktlinjer for hemtjanst. " * 120, "lang.txt", "text/plain")
    over_all = await upload(collection, queues, TEXT.encode(), "langre.txt", "text/plain")
    audio = await upload(collection, queues, (DOCUMENTS / "riktlinjer.wav").read_bytes(), "samtal.wav",
                         "audio/wav")  # over the documents' limit, within audio's
    assert await invoke(functions["ingest"], queues.event(notifications(queues, 3))) == {"batchItemFailures": []}

    failed = await blob(collection, over_type)
    assert (failed.status, failed.error_code) == (InfoBlobStatus.failed, "too_large")
    assert failed.error_message == "Plain text files may be at most 2 KiB; this one is 3 KiB"
    assert await chunk_rows(collection, over_type) == []
    failed = await blob(collection, over_all)
    assert (failed.status, failed.error_code) == (InfoBlobStatus.failed, "too_large")
    this_one = f"{round(len(TEXT.encode()) / 1024, 1):g} KiB"
    assert failed.error_message == f"Files may be at most 4 KiB; this one is {this_one}"
    assert failed.content_hash is None  # refused on its HEAD, never read
    assert (await blob(collection, audio)).error_code == "no_transcription_model"  # not too large



async def test_an_object_removed_before_ingest_reads_it_fails_object_missing(
        collection: Collection, queues: Queues, functions: dict[str, Any]) -> None:
    """Storage saying "no such object" is the document's problem (no retry brings the file back)."""
    blob_id = await upload(collection, queues, TEXT.encode(), "borta.txt", "text/plain")
    messages = notifications(queues, 1)
    queues.s3.delete_object(Bucket=queues.bucket, Key=(await blob(collection, blob_id)).object_key)
    assert await invoke(functions["ingest"], queues.event(messages)) == {"batchItemFailures": []}

    failed = await blob(collection, blob_id)
    assert (failed.status, failed.error_code) == (InfoBlobStatus.failed, "object_missing")
    assert failed.error_message is not None and "upload it again" in failed.error_message
    assert await chunk_rows(collection, blob_id) == []

async def test_a_document_in_any_unfinished_state_can_be_retried_at_once(
        collection: Collection, queues: Queues, functions: dict[str, Any], client: httpx.AsyncClient) -> None:
    """A document stranded by a crash or a restart must be rescuable without waiting: retry takes any
    document that is not ready, however recently it changed. Done to one that was in fact moving, it is
    harmless: its embed work still on the way finds its chunks gone and writes nothing."""
    admin, q = collection.member, queues
    moving = await upload(collection, q, TEXT.encode(), "fast.txt", "text/plain")
    assert await invoke(functions["ingest"], q.event(notifications(q, 1))) == {"batchItemFailures": []}
    held = q.receive(q.embed_url, expect=99, wait=2.0)  # its embed work, on the way
    claimed = await upload(collection, q, b"Trygghetslarm i hemmet. " * 20, "larm.txt", "text/plain")
    await set_status(collection, claimed, InfoBlobStatus.processing, attempts=1)
    r = await client.post(f"/api/v1/groups/{collection.group_id}/info-blobs/upload-url/", headers=admin.headers,
                          json={"filename": "aldrig.txt", "content_type": "text/plain", "size_bytes": 100})
    assert r.status_code == 201, r.text
    never_sent = uuid.UUID(r.json()["blob"]["id"])
    for m in q.receive(q.ingest_url, expect=99, wait=2.0):
        q.sqs.delete_message(QueueUrl=q.ingest_url, ReceiptHandle=m["ReceiptHandle"])

    for blob_id in (moving, claimed, never_sent):  # embedding, processing, uploading: changed just now
        r = await client.post(f"/api/v1/info-blobs/{blob_id}/retry/", headers=admin.headers)
        assert r.status_code == 202, r.text
        assert (r.json()["status"], r.json()["chunks_total"], r.json()["chunks_embedded"]) == ("queued", 0, 0)
    retries = q.receive(q.ingest_url, expect=3)
    assert await invoke(functions["ingest"], q.event(retries)) == {"batchItemFailures": []}
    q.delete_done(q.ingest_url, retries, {"batchItemFailures": []})
    # The first run's embed work arrives now: its chunks were replaced, so it does nothing, and fails nothing.
    assert await invoke(functions["embed"], q.event(held, arn=pipeline.EMBED_ARN)) == {"batchItemFailures": []}
    assert (await blob(collection, moving)).chunks_embedded == 0
    await run_embed(q, functions, sum([await embed_batches(collection, b) for b in (moving, claimed)]))
    for blob_id in (moving, claimed):
        done = await blob(collection, blob_id)
        assert done.status == InfoBlobStatus.ready and done.chunks_embedded == done.chunks_total, blob_id
    nothing = await blob(collection, never_sent)  # a retry reads the stored file: there is none
    assert (nothing.status, nothing.error_code) == (InfoBlobStatus.failed, "object_missing")

    r = await client.post(f"/api/v1/info-blobs/{moving}/retry/", headers=admin.headers)
    assert (r.status_code, r.json()["code"]) == (409, "not_failed") and "ready" in r.json()["message"]


async def test_a_run_still_under_way_when_its_document_is_retried_stops_without_writing(
        collection: Collection, queues: Queues, functions: dict[str, Any], client: httpx.AsyncClient,
        db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The retry's run claims the document again (a new generation of `attempts`): the first run, still
    extracting when the user retried, finds at its next write that the document is no longer its own and
    stops, so chunks and statuses come from one run. The same for embed: vectors computed for chunks that
    a retry removed meanwhile are dropped, not an error that sends the message round again."""
    admin, q = collection.member, queues
    blob_id = await upload(collection, q, TEXT.encode(), "langsam.txt", "text/plain")
    notifications(q, 1)  # its S3 event: the first run below stands for it
    first = await ingest_module._claim(RetryRequest(admin.tenant_id, blob_id), redelivery=False)
    assert first is not None and first.attempt == 1

    r = await client.post(f"/api/v1/info-blobs/{blob_id}/retry/", headers=admin.headers)
    assert r.status_code == 202, r.text
    [retry] = q.receive(q.ingest_url)
    assert await invoke(functions["ingest"], q.event([retry])) == {"batchItemFailures": []}
    second = await blob(collection, blob_id)
    assert (second.status, second.attempts) == (InfoBlobStatus.embedding, 2)

    with pytest.raises(ingest_module.Superseded):  # the first run goes on, and stops at its first write
        await ingest_module._process(first, None, get_settings())
    after = await blob(collection, blob_id)
    assert (after.status, after.attempts, after.chunks_total) == (InfoBlobStatus.embedding, 2, second.chunks_total)
    assert [r.chunk_index for r in await chunk_rows(collection, blob_id)] == list(range(second.chunks_total))
    work = q.receive(q.embed_url, expect=99, wait=2.0)
    assert len(work) == math.ceil(second.chunks_total / get_settings().embed_batch_size)  # the second run's only

    # Retried again while embed computes the vectors: the chunks are gone when they are written.
    real_vectors = embed_module._vectors

    async def vectors_while_retried(*args: Any) -> Any:
        vectors = await real_vectors(*args)
        engine = create_engine(db.database_migration_url)
        try:
            with engine.begin() as conn:  # what a retry does, from its own connection
                conn.execute(delete(Chunk).where(Chunk.info_blob_id == blob_id))
                conn.execute(update(InfoBlob).where(InfoBlob.id == blob_id).values(
                    status=InfoBlobStatus.uploading, chunks_total=0, chunks_embedded=0))
        finally:
            engine.dispose()
        return vectors

    monkeypatch.setattr(embed_module, "_vectors", vectors_while_retried)
    assert await invoke(functions["embed"], q.event(work[:1], arn=pipeline.EMBED_ARN)) == {"batchItemFailures": []}
    assert await chunk_rows(collection, blob_id) == []


async def test_uploading_the_same_bytes_again_resumes_an_unfinished_document(
        collection: Collection, queues: Queues, functions: dict[str, Any], client: httpx.AsyncClient) -> None:
    """The same content as a document that has not finished (stranded by a restart, say) is not answered
    as a duplicate: that document starts over, with its bytes stored again (repairing a file that never
    reached storage), and becomes ready. Once it is ready, the same content is a duplicate."""
    admin, q = collection.member, queues
    path = f"/api/v1/groups/{collection.group_id}/info-blobs/upload/"
    data = ("Snöröjning vid skolor. " * 60).encode()
    r = await client.post(path, headers=admin.headers, files={"file": ("skolor.txt", data, "text/plain")})
    assert r.status_code == 202, r.text
    stuck = uuid.UUID(r.json()["id"])
    assert await invoke(functions["ingest"], q.event(notifications(q, 1))) == {"batchItemFailures": []}
    for m in q.receive(q.embed_url, expect=99, wait=2.0):  # its embed work, lost in a restart
        q.sqs.delete_message(QueueUrl=q.embed_url, ReceiptHandle=m["ReceiptHandle"])
    assert (await blob(collection, stuck)).status == InfoBlobStatus.embedding
    # A direct upload stopped between its row and its file: hashed, nothing in storage.
    other = ("Halkbekämpning på cykelvägar. " * 60).encode()
    unstored = uuid.uuid4()
    async with UnitOfWork(admin.tenant_id) as uow:
        uow.session.add(InfoBlob(id=unstored, tenant_id=admin.tenant_id, group_id=collection.group_id,
                                 uploaded_by=admin.id, title="cykel.txt", filename="cykel.txt",
                                 declared_type="text/plain", status=InfoBlobStatus.uploading,
                                 content_hash=hashlib.sha256(other).hexdigest(), content_type="text/plain",
                                 size_bytes=len(other),
                                 object_key=storage.object_key(admin.tenant_id, collection.group_id, unstored)))

    for blob_id, content in ((stuck, data), (unstored, other)):
        r = await client.post(path, headers=admin.headers, files={"file": ("igen.txt", content, "text/plain")})
        assert r.status_code == 202, r.text
        assert (r.json()["id"], r.json()["status"], r.json()["resumed"], r.json()["duplicate"]) == (
            str(blob_id), "queued", True, False)
        assert (await statuses(collection, blob_id))[-1] == "queued"
    events = q.receive(q.ingest_url, expect=2)  # the files' S3 events start ingestion
    assert await invoke(functions["ingest"], q.event(events)) == {"batchItemFailures": []}
    await run_embed(q, functions, sum([await embed_batches(collection, b) for b in (stuck, unstored)]))
    for blob_id in (stuck, unstored):
        assert (await blob(collection, blob_id)).status == InfoBlobStatus.ready, blob_id

    r = await client.post(path, headers=admin.headers, files={"file": ("tredje.txt", data, "text/plain")})
    assert r.status_code == 200, r.text
    assert (r.json()["id"], r.json()["duplicate"], r.json()["resumed"]) == (str(stuck), True, False)


async def embed_batches(c: Collection, blob_id: uuid.UUID) -> int:
    """How many embed messages the document's chunks make."""
    return math.ceil((await blob(c, blob_id)).chunks_total / get_settings().embed_batch_size)


async def set_status(c: Collection, blob_id: uuid.UUID, status: InfoBlobStatus, **values: Any) -> None:
    async with UnitOfWork(c.member.tenant_id) as uow:
        await uow.session.execute(update(InfoBlob).where(InfoBlob.id == blob_id).values(status=status, **values))


async def backdate(c: Collection, blob_id: uuid.UUID, seconds: float) -> None:
    """As if the blob had been created (and last changed) `seconds` ago."""
    async with UnitOfWork(c.member.tenant_id) as uow:
        when = func.now() - timedelta(seconds=seconds)
        await uow.session.execute(update(InfoBlob).where(InfoBlob.id == blob_id).values(created_at=when,
                                                                                         updated_at=when))


async def test_a_presigned_upload_that_never_arrives_fails_when_read(
        collection: Collection, queues: Queues, functions: dict[str, Any], client: httpx.AsyncClient) -> None:
    """Still `uploading` 5 minutes after its link expired: `upload_expired`, seen by get and list alike. If
    the file arrives after all, ingest leaves the failed document alone; a retry ingests the file."""
    admin, settings = collection.member, get_settings()
    r = await client.post(f"/api/v1/groups/{collection.group_id}/info-blobs/upload-url/", headers=admin.headers,
                          json={"filename": "sen.txt", "content_type": "text/plain", "size_bytes": 100})
    assert r.status_code == 201, r.text
    upload_, late = r.json()["upload"], uuid.UUID(r.json()["blob"]["id"])
    direct = await upload(collection, queues, TEXT.encode(), "direkt.txt", "text/plain")  # its bytes are stored
    async with UnitOfWork(admin.tenant_id) as uow:  # as the direct upload route records them
        await uow.session.execute(update(InfoBlob).where(InfoBlob.id == direct).values(content_hash="0" * 64))
    grace = settings.upload_url_expiry_seconds + 5 * 60
    for blob_id in (late, direct):
        await backdate(collection, blob_id, grace - 30)
    path = f"/api/v1/info-blobs/{late}/"
    assert (await client.get(path, headers=admin.headers)).json()["status"] == "uploading"

    for blob_id in (late, direct):
        await backdate(collection, blob_id, grace + 1)
    listed = (await client.get(f"/api/v1/groups/{collection.group_id}/info-blobs/", headers=admin.headers)).json()
    by_id = {b["id"]: b for b in listed["items"]}
    assert (by_id[str(late)]["status"], by_id[str(late)]["error_code"]) == ("failed", "upload_expired")
    assert by_id[str(direct)]["status"] == "uploading"  # its S3 event is on its way: not lost
    got = (await client.get(path, headers=admin.headers)).json()
    assert (got["status"], got["error_code"]) == ("failed", "upload_expired")
    assert got["error_message"] == (f"The file did not arrive in storage within {grace // 60} minutes of its "
                                    "upload link being issued; upload it again")
    assert (await statuses(collection, late))[-1] == "failed"  # the uploader hears of it once
    assert (await statuses(collection, late)).count("failed") == 1

    # The file arrives after all (a slow POST begun in time): not claimed, the document stays failed.
    async with httpx.AsyncClient() as browser:
        sent = await browser.post(upload_["url"], data=upload_["fields"],
                                  files={"file": ("sen.txt", b"Sent om hemtjanst. " * 5, "text/plain")})
        assert sent.status_code in (200, 201, 204), sent.text
    messages = queues.receive(queues.ingest_url, expect=3, wait=5.0)
    assert await invoke(functions["ingest"], queues.event(messages)) == {"batchItemFailures": []}
    assert (await blob(collection, late)).error_code == "upload_expired"
    assert (await blob(collection, direct)).status == InfoBlobStatus.embedding
    # A retry ingests the file that is now stored.
    assert (await client.post(f"/api/v1/info-blobs/{late}/retry/", headers=admin.headers)).status_code == 202
    assert await invoke(functions["ingest"], queues.event(queues.receive(queues.ingest_url))) == {
        "batchItemFailures": []}
    assert (await blob(collection, late)).status == InfoBlobStatus.embedding


async def test_a_swedish_collection_on_the_multilingual_builtin_is_embedded_and_searched_by_it(
        collection: Collection, queues: Queues, functions: dict[str, Any], client: httpx.AsyncClient) -> None:
    """The member picks multilingual-e5-small from the models list; ingestion embeds with it (384-dim unit
    vectors, the blob records the model) and a Swedish question finds its document by vectors alone."""
    listed = await _json(await client.get("/api/v1/embedding-models/", headers=collection.member.headers), 200)
    [e5] = [m for m in listed["items"] if m["name"] == "multilingual-e5-small"]
    assert e5["managed"] and e5["provider_id"] is None
    async with UnitOfWork(collection.member.tenant_id) as uow:
        group = await uow.session.get_one(Group, collection.group_id)
        group.embedding_model_id = uuid.UUID(e5["id"])
    documents = {"bygglov.txt": "Ansökan om bygglov lämnas till byggnadsnämnden, som fattar beslut inom tio veckor.",
                 "skolmat.txt": "Skolmaten serveras mellan klockan elva och tolv, och på fredagar blir det fisk.",
                 "sopor.txt": "Sophämtningen sker varannan vecka; grovsopor lämnas på återvinningscentralen."}
    ids = {name: await upload(collection, queues, text.encode(), name, "text/plain")
           for name, text in documents.items()}
    await invoke(functions["ingest"], queues.event(notifications(queues, 3)))
    await run_embed(queues, functions, 3)
    for blob_id in ids.values():
        stored = await blob(collection, blob_id)
        assert stored.status == InfoBlobStatus.ready and stored.embedding_model_id == uuid.UUID(e5["id"])
        [row] = await chunk_rows(collection, blob_id)
        assert len(row.embedding) == 384 and abs(sum(x * x for x in row.embedding) - 1) < 1e-3
    for question, expected in (("Hur lång tid tar ett beslut om bygglov?", "bygglov.txt"),
                               ("Var lämnar jag gamla möbler?", "sopor.txt")):
        r = await client.post(f"/api/v1/groups/{collection.group_id}/searches/", headers=collection.member.headers,
                              json={"query": question, "limit": 3, "method": "dense"})
        assert r.status_code == 200, r.text
        assert r.json()["items"][0]["info_blob_id"] == str(ids[expected])
