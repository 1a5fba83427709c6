"""Complete function: answers one question into its Redis stream (invoked asynchronously by sessions).

Event: `{"tenant_id": "...", "question_id": "..."}`. A malformed event is logged and dropped, not
raised: Lambda would retry it, and a retry cannot make it valid. Postgres or Redis unreachable before the
answer started is one warning with its code, then raised: the question is still `queued`, and Lambda's retry
of the event (EventInvokeConfig) answers it once the dependency is back.
"""

import logging
from typing import Any

from eneo.answers.invoke import parse_complete_event
from eneo.answers.service import answer_question
from eneo.core.aio import deadline, invocation, run, start_function
from eneo.core.health import unavailable

start_function("complete")
log = logging.getLogger("eneo.complete")


@invocation
def handler(event: Any, context: Any) -> dict[str, str]:
    try:
        tenant_id, question_id = parse_complete_event(event)
    except ValueError as exc:
        log.error("malformed complete event dropped", extra={"keys": sorted(event)[:10] if isinstance(event, dict)
                                                             else type(event).__name__})
        return {"status": "rejected", "reason": str(exc)}
    try:
        answered = run(answer_question(tenant_id, question_id, deadline=deadline(context)))
    except Exception as exc:
        if (down := unavailable(exc)) is None:
            raise
        log.warning("dependency unavailable; the question will be retried", extra={
            "question_id": str(question_id), "code": down.code, "error": type(exc).__name__})
        raise down from None  # the invocation fails, so Lambda retries it; the traceback would show no bug
    return {"status": "answered" if answered else "skipped"}
