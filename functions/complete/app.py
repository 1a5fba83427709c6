"""Complete function: answers one question into its Redis stream (invoked asynchronously by sessions).

Event: `{"tenant_id": "...", "question_id": "..."}`. A malformed event is logged and dropped, not
raised: Lambda would retry it, and a retry cannot make it valid. Postgres or Redis unreachable before the
answer started is one warning with its code, then raised: the question is still `queued`, and Lambda's retry
of the event (EventInvokeConfig) answers it once the dependency is back.
"""

import logging
import time
import uuid
from typing import Any

from eneo.answers.service import answer_question
from eneo.core.aio import run, start_function
from eneo.core.health import unavailable

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
    try:
        answered = run(answer_question(tenant_id, question_id, deadline=deadline))
    except Exception as exc:
        if (down := unavailable(exc)) is None:
            raise
        log.warning("dependency unavailable; the question will be retried", extra={
            "question_id": str(question_id), "code": down.code, "error": type(exc).__name__})
        raise down from None  # the invocation fails, so Lambda retries it; the traceback would show no bug
    return {"status": "answered" if answered else "skipped"}
