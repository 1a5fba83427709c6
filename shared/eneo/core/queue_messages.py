"""Typed views of the events the ingest and embed functions receive.

In the spirit of AWS Lambda Powertools' event-source data classes (small frozen dataclasses over
the raw dicts), without depending on Powertools:

* an SQS event -> `SqsRecord`s (messageId, body, ApproximateReceiveCount);
* an ingest body -> `ObjectCreated` (one per S3 record of the S3 event JSON; `s3:TestEvent` -> none)
  or `RetryRequest` (`{"retry": {"tenant_id", "blob_id"}}`, sent by `POST .../retry/`);
* an embed body -> `EmbedRequest`;
* the same S3 records posted directly by MinIO's webhook (`{"EventName", "Key", "Records": [...]}`).

A record that cannot be understood (bad JSON, unknown shape, a key outside
`tenants/{t}/groups/{g}/blobs/{b}`) raises `Malformed`, which callers log (ids and reason, never
content) and then treat as *processed*: no later delivery can make it valid, so retrying it would
only put it in the dead-letter queue after N pointless attempts.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from eneo.core.storage import parse_object_key

log = logging.getLogger("eneo.ingestion")


class Malformed(ValueError):
    """A record no retry can fix: logged and dropped as a success (see the module docstring)."""


@dataclass(frozen=True, slots=True)
class SqsRecord:
    message_id: str
    body: str
    receive_count: int  # ApproximateReceiveCount: 1 on the first delivery

    @classmethod
    def from_dict(cls, raw: Any) -> SqsRecord:
        if not isinstance(raw, dict) or not isinstance(raw.get("messageId"), str):
            raise Malformed("an SQS record needs a messageId")
        body = raw.get("body")
        if not isinstance(body, str):
            raise Malformed("an SQS record needs a string body")
        attributes = raw.get("attributes")
        if not isinstance(attributes, dict):
            attributes = {}
        try:
            count = max(int(attributes.get("ApproximateReceiveCount", 1)), 1)
        except (TypeError, ValueError):
            count = 1
        return cls(raw["messageId"], body, count)


@dataclass(frozen=True, slots=True)
class ObjectCreated:
    """One S3 ObjectCreated record for a document object (the key already parsed)."""

    tenant_id: uuid.UUID
    group_id: uuid.UUID
    blob_id: uuid.UUID
    bucket: str
    key: str  # URL-decoded
    size: int | None


@dataclass(frozen=True, slots=True)
class RetryRequest:
    """`POST /api/v1/info-blobs/{id}/retry/` asks for the blob to be ingested again."""

    tenant_id: uuid.UUID
    blob_id: uuid.UUID

    def to_message(self) -> dict[str, Any]:
        return {"retry": {"tenant_id": str(self.tenant_id), "blob_id": str(self.blob_id)}}


IngestRequest = ObjectCreated | RetryRequest


@dataclass(frozen=True, slots=True)
class EmbedRequest:
    """Embed these chunks of one blob with one embedding model (ids only, never text)."""

    tenant_id: uuid.UUID
    blob_id: uuid.UUID
    embedding_model_id: uuid.UUID
    chunk_ids: tuple[uuid.UUID, ...]

    def to_message(self) -> dict[str, Any]:
        return {"tenant_id": str(self.tenant_id), "blob_id": str(self.blob_id),
                "embedding_model_id": str(self.embedding_model_id), "chunk_ids": [str(c) for c in self.chunk_ids]}


def embed_messages(tenant_id: uuid.UUID, blob_id: uuid.UUID, model_id: uuid.UUID, chunk_ids: Sequence[uuid.UUID],
                   batch_size: int) -> list[dict[str, Any]]:
    """The embed-queue messages for these chunks of one blob, `batch_size` (settings.embed_batch_size) per message."""
    return [EmbedRequest(tenant_id, blob_id, model_id, tuple(chunk_ids[i:i + batch_size])).to_message()
            for i in range(0, len(chunk_ids), batch_size)]


def _uuid(value: Any, name: str) -> uuid.UUID:
    if not isinstance(value, str):
        raise Malformed(f"{name} is not a UUID")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise Malformed(f"{name} is not a UUID") from None


def _json_object(body: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError:
        raise Malformed("the body is not JSON") from None
    if not isinstance(data, dict):
        raise Malformed("the body is not a JSON object")
    return data


def is_sqs_event(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return bool(records) and isinstance(records, list) and all(
        isinstance(r, dict) and r.get("eventSource") == "aws:sqs" for r in records)


def sqs_records(event: Any) -> list[tuple[str, SqsRecord | Malformed]]:
    """Each record of an SQS event with its messageId; a record without the SQS fields is a Malformed value."""
    out: list[tuple[str, SqsRecord | Malformed]] = []
    for index, raw in enumerate(event.get("Records") or []):
        ident = raw.get("messageId") if isinstance(raw, dict) and isinstance(raw.get("messageId"), str) else None
        try:
            out.append((ident or f"#{index}", SqsRecord.from_dict(raw)))
        except Malformed as exc:
            out.append((ident or f"#{index}", exc))
    return out


def object_created(record: Any) -> ObjectCreated | None:
    """One S3 event record (AWS or MinIO); None for events other than ObjectCreated (nothing to do)."""
    if not isinstance(record, dict):
        raise Malformed("an S3 record is not an object")
    name = str(record.get("eventName", ""))
    if not name.removeprefix("s3:").startswith("ObjectCreated:"):
        return None
    s3 = record.get("s3")
    bucket = s3.get("bucket") if isinstance(s3, dict) else None
    obj = s3.get("object") if isinstance(s3, dict) else None
    if not isinstance(bucket, dict) or not isinstance(obj, dict) or not isinstance(obj.get("key"), str):
        raise Malformed("an S3 record needs s3.bucket and s3.object.key")
    key = unquote_plus(obj["key"])
    parsed = parse_object_key(key)
    if parsed is None:
        raise Malformed("the object key is not a document key (tenants/{t}/groups/{g}/blobs/{b})")
    size = obj.get("size")
    return ObjectCreated(*parsed, bucket=str(bucket.get("name", "")), key=key,
                         size=size if isinstance(size, int) and size >= 0 else None)


def s3_event(records: Any) -> list[ObjectCreated]:
    """The document objects created in an S3 event's `Records` (other event types are skipped)."""
    if not isinstance(records, list):
        raise Malformed("Records is not a list")
    return [created for record in records if (created := object_created(record)) is not None]


def ingest_requests(body: str) -> list[IngestRequest]:
    """What one ingest-queue message asks for: S3 records, a retry, or nothing (the S3 test event)."""
    data = _json_object(body)
    if data.get("Event") == "s3:TestEvent":  # sent once when a notification is configured
        return []
    if "retry" in data:
        retry = data["retry"]
        if not isinstance(retry, dict):
            raise Malformed("retry is not an object")
        return [RetryRequest(_uuid(retry.get("tenant_id"), "tenant_id"), _uuid(retry.get("blob_id"), "blob_id"))]
    if "Records" in data:
        return list(s3_event(data["Records"]))
    raise Malformed("the body is neither an S3 event nor a retry message")


def embed_request(body: str) -> EmbedRequest:
    data = _json_object(body)
    chunk_ids = data.get("chunk_ids")
    if not isinstance(chunk_ids, list) or not chunk_ids:
        raise Malformed("chunk_ids must be a non-empty list")
    return EmbedRequest(_uuid(data.get("tenant_id"), "tenant_id"), _uuid(data.get("blob_id"), "blob_id"),
                        _uuid(data.get("embedding_model_id"), "embedding_model_id"),
                        tuple(_uuid(c, "chunk_ids[]") for c in chunk_ids))


def is_direct_s3_event(event: Any) -> bool:
    """S3 records posted as they are (MinIO's webhook), not wrapped in SQS messages."""
    records = event.get("Records") if isinstance(event, dict) else None
    return isinstance(records, list) and bool(records) and all(
        isinstance(r, dict) and "s3" in r for r in records)
