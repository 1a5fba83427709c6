"""The ingest and embed functions' event handling: event -> records -> use case, with partial batch failures.

Ingest takes SQS events (S3 notifications and retry messages in the bodies) and S3 records posted
directly (MinIO's webhook). For the latter each record is an item named by its object key; the
adapter that receives the webhook must answer non-2xx when `batchItemFailures` is not empty, so
that MinIO sends the event again. Such records carry no receive count: they are never on their
"last" attempt, so a blob whose every webhook delivery failed stays `processing` until a retry.
"""

from __future__ import annotations

import logging
from typing import Any

from eneo.core.queue_messages import (
    Malformed,
    SqsRecord,
    embed_request,
    ingest_requests,
    is_direct_s3_event,
    is_sqs_event,
    object_created,
    sqs_records,
)
from eneo.ingestion.batch import BatchResponse, Work, process_batch
from eneo.ingestion.embed import embed
from eneo.ingestion.ingest import ingest

log = logging.getLogger("eneo.ingestion")


def _unknown(event: Any) -> BatchResponse:
    keys = sorted(event)[:10] if isinstance(event, dict) else type(event).__name__
    log.error("event of unknown shape dropped", extra={"keys": keys})
    return {"batchItemFailures": []}


def _sqs_items(event: Any, use: Any) -> list[tuple[str, Work]]:
    def work(record: SqsRecord | Malformed) -> Work:
        async def run() -> None:
            if isinstance(record, Malformed):
                raise record
            await use(record)
        return run
    return [(ident, work(record)) for ident, record in sqs_records(event)]


async def _ingest_message(record: SqsRecord, deadline: float | None) -> None:
    """Every request of one message; a failure of any fails the message (the others are idempotent)."""
    failed: Exception | None = None
    for request in ingest_requests(record.body):
        try:
            await ingest(request, receive_count=record.receive_count, deadline=deadline)
        except Exception as exc:
            failed = exc
    if failed is not None:
        raise failed


async def handle_ingest_event(event: Any, *, deadline: float | None = None) -> BatchResponse:
    if is_sqs_event(event):
        return await process_batch(_sqs_items(event, lambda r: _ingest_message(r, deadline)))
    if is_direct_s3_event(event):
        def work(raw: Any) -> Work:
            async def run() -> None:
                if (created := object_created(raw)) is not None:
                    await ingest(created, deadline=deadline)
            return run
        return await process_batch((_record_key(raw, i), work(raw)) for i, raw in enumerate(event["Records"]))
    return _unknown(event)


async def handle_embed_event(event: Any) -> BatchResponse:
    if not is_sqs_event(event):
        return _unknown(event)

    async def use(record: SqsRecord) -> None:
        await embed(embed_request(record.body), receive_count=record.receive_count)
    return await process_batch(_sqs_items(event, use))


def _record_key(raw: Any, index: int) -> str:
    try:
        return str(raw["s3"]["object"]["key"])
    except (KeyError, TypeError):
        return f"#{index}"
