"""Embed function: embedding work from the embed queue (chunk ids of one blob and one model).

Returns `{"batchItemFailures": [...]}` (ReportBatchItemFailures). See eneo.ingestion.embed.
"""

from typing import Any

from eneo.core.aio import invocation, run, start_function
from eneo.embeddings.local import preload
from eneo.ingestion.batch import BatchResponse
from eneo.ingestion.handlers import handle_embed_event

start_function("embed")
preload()  # the built-in model's weights and int8 graph load at init, not in the first document's wait


@invocation
def handler(event: Any, context: Any) -> BatchResponse:
    return run(handle_embed_event(event))
