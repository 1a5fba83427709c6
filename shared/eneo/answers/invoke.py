"""Hand a question to the `complete` function with an asynchronous Lambda invoke.

`InvocationType="Event"` returns as soon as Lambda has queued the event (202), so the sessions
function answers the client at once. boto3 is imported on first use: it costs ~150 ms of cold
start that routes which never stream should not pay.
"""

from __future__ import annotations

import json
import logging
import uuid
from functools import lru_cache
from typing import Any, Protocol

from eneo.core.errors import AppError
from eneo.core.settings import get_settings

log = logging.getLogger("eneo.answers")


class CompleteUnavailable(AppError):
    status, code = 503, "complete_unavailable"


class CompleteInvoker(Protocol):
    def __call__(self, tenant_id: uuid.UUID, question_id: uuid.UUID) -> None: ...


def complete_event(tenant_id: uuid.UUID, question_id: uuid.UUID) -> dict[str, str]:
    """The event `complete` takes: ids only, never the question's text."""
    return {"tenant_id": str(tenant_id), "question_id": str(question_id)}


def parse_complete_event(event: Any) -> tuple[uuid.UUID, uuid.UUID]:
    """The tenant and question ids of a `complete_event`; ValueError for anything else."""
    try:
        return uuid.UUID(str(event["tenant_id"])), uuid.UUID(str(event["question_id"]))
    except (KeyError, TypeError, ValueError):
        raise ValueError("the event needs tenant_id and question_id (UUIDs)") from None


@lru_cache
def _lambda_client() -> Any:
    import boto3

    return boto3.client("lambda", region_name=get_settings().aws_region)


def lambda_invoker(tenant_id: uuid.UUID, question_id: uuid.UUID) -> None:
    """Queue the question for `complete`; CompleteUnavailable if Lambda did not take it."""
    name = get_settings().complete_function_name
    if not name:
        raise CompleteUnavailable("Streaming answers are not configured (COMPLETE_FUNCTION_NAME is empty)")
    try:
        response = _lambda_client().invoke(FunctionName=name, InvocationType="Event",
                                           Payload=json.dumps(complete_event(tenant_id, question_id)).encode())
    except Exception as exc:  # botocore's errors, connection failures
        log.error("invoking complete failed", extra={"error": type(exc).__name__})
        raise CompleteUnavailable("The answer could not be started; ask again in a moment") from None
    if response.get("StatusCode") != 202:
        raise CompleteUnavailable("The answer could not be started; ask again in a moment")
