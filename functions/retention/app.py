"""Retention function: EventBridge's scheduled event (template.yaml: every hour) deletes the conversations
that have outlived their retention period, in bounded batches within the invocation's time
(eneo.privacy.sweep). The event's content is not read. Returns the counts and `finished` (False when the
time ran out first: the next run goes on where this one stopped).
"""

from typing import Any

from eneo.core.aio import deadline, invocation, run, start_function
from eneo.privacy.sweep import run_retention

start_function("retention")


@invocation
def handler(event: Any, context: Any) -> dict[str, int | bool]:
    return run(run_retention(deadline=deadline(context))).as_dict()
