"""Sweep function: EventBridge's scheduled event (template.yaml: every 15 minutes) re-queues documents
stuck mid-pipeline longer than INGEST_STALE_SECONDS, for every active tenant (eneo.ingestion.sweep).

The event's content is not read: any invoke sweeps. Returns the counts (tenants, resumed, failed); a
tenant that failed is logged and swept again next time rather than failing the invoke, which
EventBridge would retry for every tenant.
"""

from typing import Any

from eneo.core.aio import invocation, run, start_function
from eneo.ingestion.sweep import sweep_unfinished

start_function("sweep")


@invocation
def handler(event: Any, context: Any) -> dict[str, int]:
    return run(sweep_unfinished()).as_dict()
