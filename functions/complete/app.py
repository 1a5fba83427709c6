"""Complete function: answers one question into its Redis stream (invoked asynchronously by sessions).

Event: `{"tenant_id": "...", "question_id": "..."}`. A malformed event is logged and dropped, not
raised: Lambda would retry it, and a retry cannot make it valid.
"""

import logging
import time
import uuid
from typing import Any

from eneo.answers.service import answer_question
from eneo.core.aio import run, start_function

start_function("complete")
log = logging.getLogger("eneo.complete")


def handler(event: Any, context: Any) -> dict[str, str]:
    try:
        tenant_id, question_id = uuid.UUID(str(event["tenant_id"])), uuid.UUID(str(event["question_id"]))
    except (KeyError, TypeError, ValueError):
        log.error("malformed complete event dropped", extra={"keys": sorted(event)[:10] if isinstance(event, dict)
                                                             else type(event).__name__})
        return {"status": "rejected", "reason": "the event needs tenant_id and question_id (UUIDs)"}
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000
    answered = run(answer_question(tenant_id, question_id, deadline=deadline))
    return {"status": "answered" if answered else "skipped"}
