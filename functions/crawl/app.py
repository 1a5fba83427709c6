"""Crawl function: one crawl run per SQS message (`{"crawl": {"tenant_id", "run_id"}}`), worked on within
this invocation's time budget; a run that needs longer is checkpointed and re-queued (eneo.websites.crawl).

A message that cannot be understood is logged and dropped (no retry can fix it); an error is reported as the
record's failure, so SQS delivers it again (the run resumes from its checkpoint) and, after the queue's
maxReceiveCount, moves it to the dead-letter queue.
"""

import json
import logging
import uuid
from typing import Any

from eneo.core.aio import deadline, invocation, run, start_function
from eneo.websites.crawl import crawl

start_function("crawl")
log = logging.getLogger("eneo.websites.crawl")


def _target(body: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    try:
        message = json.loads(body)["crawl"]
        return uuid.UUID(message["tenant_id"]), uuid.UUID(message["run_id"])
    except (ValueError, KeyError, TypeError):
        return None


async def _handle(event: dict[str, Any], until: float) -> dict[str, Any]:
    failures = []
    for record in event.get("Records", []):
        target = _target(record.get("body", ""))
        if target is None:
            log.warning("crawl message dropped: not understood", extra={"message_id": record.get("messageId")})
            continue
        try:
            outcome = await crawl(*target, deadline=until)
            log.info("crawl invocation", extra={"run_id": str(target[1]), "result": outcome.result})
        except Exception:
            log.exception("crawl invocation failed", extra={"run_id": str(target[1])})
            failures.append({"itemIdentifier": record.get("messageId")})
    return {"batchItemFailures": failures}


@invocation
def handler(event: Any, context: Any) -> dict[str, Any]:
    return run(_handle(event, deadline(context)))
