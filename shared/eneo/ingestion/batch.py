"""Partial batch failures: every record of a batch is processed on its own, and only the ones that
raised are reported, so SQS redelivers those alone (`ReportBatchItemFailures`).

Records are independent: one that fails (or hangs up to its own limits) never stops the others.
`Malformed` records are logged and counted as processed: no retry can fix them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import TypedDict

from eneo.core.health import unavailable
from eneo.core.queue_messages import Malformed

log = logging.getLogger("eneo.ingestion")

Work = Callable[[], Awaitable[object]]


class ItemFailure(TypedDict):
    itemIdentifier: str


class BatchResponse(TypedDict):
    batchItemFailures: list[ItemFailure]


async def process_batch(items: Iterable[tuple[str, Work]]) -> BatchResponse:
    """Run each item's work; the identifiers of those that raised (anything but Malformed) are the failures."""
    failures: list[ItemFailure] = []
    for identifier, work in items:
        try:
            await work()
        except Malformed as exc:
            log.warning("malformed record dropped", extra={"item": identifier, "reason": str(exc)})
        except Exception as exc:
            if (down := unavailable(exc)) is not None:  # not a bug: the same record succeeds once it is back
                log.warning("dependency unavailable; record will be retried", extra={
                    "item": identifier, "code": down.code, "error": type(exc).__name__})
            else:
                # The traceback, not the message text alone: errors here carry ids and codes, and the log
                # formatter withholds database messages (they can quote values).
                log.exception("record failed; it will be retried", extra={"item": identifier,
                                                                            "error": type(exc).__name__})
            failures.append({"itemIdentifier": identifier})
    return {"batchItemFailures": failures}
