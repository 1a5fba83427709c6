"""Parsing what the ingest and embed functions receive: SQS events, S3 event bodies (AWS and MinIO),
the S3 test event, retry and embed messages, and records that can never succeed."""

import asyncio
import json
import uuid
from typing import Any
from urllib.parse import quote_plus

import pytest

from eneo.core.queue_messages import (
    EmbedRequest,
    Malformed,
    ObjectCreated,
    RetryRequest,
    SqsRecord,
    embed_messages,
    embed_request,
    ingest_requests,
    is_direct_s3_event,
    is_sqs_event,
    object_created,
    s3_event,
    sqs_records,
)
from eneo.ingestion.batch import process_batch

# Fixed ids: they name parametrized tests, and a name must be the same in every run (-k, --lf, xdist workers).
T, G, B = (uuid.UUID(u) for u in ("48959d11-f246-4c88-b4fb-ccaf3a148066", "3588b7ef-2510-4b63-b37f-30c251aa766c",
                                  "9d57ae5d-d054-4738-a253-9a8f4030e29f"))
KEY = f"tenants/{T}/groups/{G}/blobs/{B}"


def s3_record(key: str = KEY, name: str = "ObjectCreated:Put", size: int | None = 12,
              source: str = "aws:s3") -> dict[str, Any]:
    obj: dict[str, Any] = {"key": quote_plus(key), "eTag": "abc"}
    if size is not None:
        obj["size"] = size
    return {"eventVersion": "2.1", "eventSource": source, "awsRegion": "eu-north-1", "eventName": name,
            "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": "docs", "arn": "arn:aws:s3:::docs"}, "object": obj}}


def sqs_event(*bodies: str, receive_count: str = "1") -> dict[str, Any]:
    return {"Records": [{"messageId": f"m{i}", "receiptHandle": "h", "body": body, "md5OfBody": "x",
                         "attributes": {"ApproximateReceiveCount": receive_count, "SentTimestamp": "1"},
                         "messageAttributes": {}, "eventSource": "aws:sqs",
                         "eventSourceARN": "arn:aws:sqs:eu-north-1:123456789012:ingest", "awsRegion": "eu-north-1"}
                        for i, body in enumerate(bodies)]}


def test_sqs_event_gives_records_with_id_body_and_receive_count() -> None:
    event = sqs_event("a", "b", receive_count="3")
    assert is_sqs_event(event) and not is_direct_s3_event(event)
    assert sqs_records(event) == [("m0", SqsRecord("m0", "a", 3)), ("m1", SqsRecord("m1", "b", 3))]


def test_an_sqs_record_without_a_body_is_malformed_but_keeps_its_id() -> None:
    event = sqs_event("a")
    del event["Records"][0]["body"]
    [(ident, record)] = sqs_records(event)
    assert ident == "m0" and isinstance(record, Malformed)


def test_s3_event_body_gives_the_parsed_document_key() -> None:
    [created] = ingest_requests(json.dumps({"Records": [s3_record()]}))
    assert created == ObjectCreated(T, G, B, bucket="docs", key=KEY, size=12)


def test_keys_are_url_decoded() -> None:
    record = s3_record()
    record["s3"]["object"]["key"] = KEY.replace("/", "%2F")
    assert object_created(record) == ObjectCreated(T, G, B, bucket="docs", key=KEY, size=12)


def test_s3_test_event_is_ignored() -> None:
    body = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-30T03:00:00.000Z",
                       "Bucket": "docs", "RequestId": "r", "HostId": "h"})
    assert ingest_requests(body) == []


def test_events_other_than_object_created_are_skipped() -> None:
    assert s3_event([s3_record(name="ObjectRemoved:Delete"), s3_record()]) == [
        ObjectCreated(T, G, B, bucket="docs", key=KEY, size=12)]


def test_minio_webhook_records_are_s3_records() -> None:
    event = {"EventName": "s3:ObjectCreated:Put", "Key": f"docs/{KEY}",
             "Records": [s3_record(name="s3:ObjectCreated:Put", source="minio:s3", size=None)]}
    assert is_direct_s3_event(event) and not is_sqs_event(event)
    assert s3_event(event["Records"]) == [ObjectCreated(T, G, B, bucket="docs", key=KEY, size=None)]


def test_retry_message() -> None:
    message = RetryRequest(T, B)
    assert ingest_requests(json.dumps(message.to_message())) == [message]


def test_embed_message_round_trips() -> None:
    message = EmbedRequest(T, B, G, (uuid.uuid4(), uuid.uuid4()))
    assert embed_request(json.dumps(message.to_message())) == message



def test_embed_messages_split_a_blobs_chunks_into_batches_in_order() -> None:
    model, chunks = uuid.uuid4(), [uuid.uuid4() for _ in range(5)]
    messages = embed_messages(T, B, model, chunks, 2)
    parsed = [embed_request(json.dumps(m)) for m in messages]
    assert [p.chunk_ids for p in parsed] == [tuple(chunks[0:2]), tuple(chunks[2:4]), tuple(chunks[4:])]
    assert {(p.tenant_id, p.blob_id, p.embedding_model_id) for p in parsed} == {(T, B, model)}
    assert embed_messages(T, B, model, [], 2) == []

@pytest.mark.parametrize("body", [
    "not json", "[1, 2]", "{}", json.dumps({"Records": "x"}), json.dumps({"Records": [42]}),
    json.dumps({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {}}}]}),
    json.dumps({"Records": [s3_record(key="elsewhere/file.pdf")]}),
    json.dumps({"Records": [s3_record(key=f"tenants/{T}/groups/{G}/blobs/not-a-uuid")]}),
    json.dumps({"retry": {"tenant_id": str(T)}}), json.dumps({"retry": {"tenant_id": 1, "blob_id": str(B)}}),
])
def test_ingest_bodies_no_retry_can_fix_are_malformed(body: str) -> None:
    with pytest.raises(Malformed):
        ingest_requests(body)


@pytest.mark.parametrize("body", [
    "{", json.dumps({"tenant_id": str(T), "blob_id": str(B), "embedding_model_id": str(G), "chunk_ids": []}),
    json.dumps({"tenant_id": str(T), "blob_id": str(B), "chunk_ids": [str(G)]}),
    json.dumps({"tenant_id": str(T), "blob_id": str(B), "embedding_model_id": str(G), "chunk_ids": ["x"]}),
])
def test_embed_bodies_no_retry_can_fix_are_malformed(body: str) -> None:
    with pytest.raises(Malformed):
        embed_request(body)


def test_batch_reports_only_the_records_that_raised_and_drops_malformed_ones() -> None:
    done: list[str] = []

    def item(name: str, error: Exception | None = None) -> tuple[str, Any]:
        async def work() -> None:
            if error:
                raise error
            done.append(name)
        return name, work

    response = asyncio.run(process_batch([item("a", RuntimeError("db down")), item("b"),
                                          item("c", Malformed("bad json")), item("d")]))
    assert response == {"batchItemFailures": [{"itemIdentifier": "a"}]}
    assert done == ["b", "d"]  # a failure before them blocked neither
