"""Ingest function: S3 ObjectCreated events (via SQS, or posted directly by MinIO) and retry messages.

Returns `{"batchItemFailures": [...]}` (ReportBatchItemFailures): only the records that failed with
an error a retry may fix are delivered again. See eneo.ingestion.ingest for what one record does.
"""

from typing import Any

from eneo.core.aio import deadline, invocation, run, start_function
from eneo.ingestion.batch import BatchResponse
from eneo.ingestion.handlers import handle_ingest_event

start_function("ingest")


@invocation
def handler(event: Any, context: Any) -> BatchResponse:
    return run(handle_ingest_event(event, deadline=deadline(context)))
