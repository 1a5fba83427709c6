"""SQS queues, bucket notifications and event-source mappings of the template, as Lambda runs them.

`ensure_queues` creates the template's queues with their attributes (VisibilityTimeout, retention,
RedrivePolicy to the dead-letter queue); `apply_bucket_notifications` MERGES each bucket's
`QueueConfigurations` into what the bucket already has (the S3 mirror's own notification stays: see
s3_mirror.merge_queue_notification). Call it after the mirror restored the objects, or each restart
would notify the ingest queue of every document again.

`EventSources` is what Lambda's SQS pollers do for each `SQS` event of a function: threads long-poll
ReceiveMessage (at most BatchSize messages, all system attributes), build Lambda's SQS event
(`Records[]` with messageId, receiptHandle, body, attributes, messageAttributes, md5OfBody,
eventSource "aws:sqs", eventSourceARN, awsRegion), invoke the function on its warm worker pool, and
delete what succeeded:
- a function error, timeout or crash leaves the whole batch; it comes back after the visibility timeout;
- with `ReportBatchItemFailures`, the messages named in `{"batchItemFailures": [{"itemIdentifier": id}]}`
  stay and the rest are deleted; a malformed response (an id not in the batch, an empty one, a reply
  that is not an object) fails the whole batch, as Lambda decides;
- a message received more than maxReceiveCount times is moved to the dead-letter queue by SQS itself
  (moto does this on the receive after the last allowed one, as SQS does).

One deliberate difference: locally the queues' VisibilityTimeout is a few seconds
(ENEO_QUEUE_VISIBILITY_SECONDS) so that failures are retried quickly, which is shorter than a
function may run. While a batch runs, its messages stay hidden (10 s at a time, renewed), so a
slow run is not delivered twice; on AWS a VisibilityTimeout of >= 6x the function's Timeout gives
the same guarantee.

Pollers per mapping: ScalingConfig.MaximumConcurrency, else ENEO_SQS_CONCURRENCY (2), never more than
the function may have instances. On stop, running batches get a grace period and are then abandoned
(their messages stay in the queue: at-least-once, as on Lambda); pollers waiting in a long poll are
not waited for (daemon threads: they end when it returns, handling nothing more).
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from eneo_local.s3_mirror import aws_client, merge_queue_notification
from eneo_local.template import QueueSpec, SqsEventSource, StackTemplate
from eneo_local.workers import FunctionHost, Invocation

log = logging.getLogger("eneo_local.event_sources")

DEFAULT_CONCURRENCY = 2  # pollers per mapping (each holds one batch and one function instance at a time)
WAIT_SECONDS = 10  # long-poll length (a stop does not wait for it: an idle poller holds no message)
HOLD_SECONDS = 10  # how long a running batch is kept hidden at a time (renewed while it runs)
_AWS_ERRORS = (BotoCoreError, ClientError)


# ---------------------------------------------------------------------------------------------
# Queues and notifications


@dataclass(frozen=True)
class Queue:
    """A queue as it exists on the SQS endpoint."""

    spec: QueueSpec
    url: str
    arn: str


def ensure_queues(sqs: Any, template: StackTemplate) -> dict[str, Queue]:
    """Create (or update) every queue of the template; dead-letter queues are wired once all exist."""
    out: dict[str, Queue] = {}
    for logical_id, spec in template.queues.items():
        plain = {k: v for k, v in spec.attributes.items() if k != "RedrivePolicy"}
        try:
            url = sqs.get_queue_url(QueueName=spec.name)["QueueUrl"]
            if plain:
                sqs.set_queue_attributes(QueueUrl=url, Attributes=plain)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code"))
            if "NonExistentQueue" not in code and "QueueDoesNotExist" not in code:
                raise
            url = sqs.create_queue(QueueName=spec.name, Attributes=plain)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        if url != spec.url:
            log.warning("queue URL differs from what the functions were told", extra={
                "queue": logical_id, "url": url, "expected": spec.url})
        out[logical_id] = Queue(spec, url, arn)
    for queue in out.values():
        spec = queue.spec
        if spec.dead_letter_queue is not None:
            policy = {"deadLetterTargetArn": out[spec.dead_letter_queue].arn, "maxReceiveCount": spec.max_receive_count}
            sqs.set_queue_attributes(QueueUrl=queue.url, Attributes={"RedrivePolicy": json.dumps(policy)})
    return out


def apply_bucket_notifications(s3: Any, template: StackTemplate, queues: dict[str, Queue]) -> int:
    """Merge each bucket's queue notifications into its configuration; returns how many were set."""
    count = 0
    for bucket in template.buckets.values():
        for notification in bucket.notifications:
            merge_queue_notification(s3, bucket.name, notification.id, queues[notification.queue].arn,
                                     notification.events, notification.filter)
            count += 1
    return count


# ---------------------------------------------------------------------------------------------
# Lambda's SQS event


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """boto3's MessageAttributeValue in Lambda's camelCase shape (binary values base64-encoded)."""
    out: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value.get("DataType")}
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return out


def event_sources_enabled() -> bool:
    """ENEO_EVENT_SOURCES=off: no poller reads the template's queues, so a test can take each message and
    deliver it itself (the Lambda conformance tier hands them to `sam local invoke`)."""
    return os.environ.get("ENEO_EVENT_SOURCES", "on").strip().lower() not in ("off", "0", "false", "no")


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One entry of an SQS event's Records, as Lambda builds it from a received message."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {name: _message_attribute(value)
                              for name, value in (message.get("MessageAttributes") or {}).items()},
        "md5OfBody": message.get("MD5OfBody"),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def failed_message_ids(outcome: Invocation, message_ids: Sequence[str], report_failures: bool) -> set[str]:
    """The messages of a batch that stay in the queue, by Lambda's rules (see the module docstring)."""
    everything = set(message_ids)
    if outcome.status != "ok":
        return everything
    if not report_failures:
        return set()
    result = outcome.result
    if result is None:
        return set()
    if not isinstance(result, dict):
        return everything
    failures = result.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return everything
    failed = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in everything:
            return everything
        failed.add(identifier)
    return failed


# ---------------------------------------------------------------------------------------------
# Pollers


class _Poller:
    """One poller thread of one mapping: receive a batch, invoke, delete what succeeded, repeat."""

    def __init__(self, owner: EventSources, mapping: SqsEventSource, queue: Queue, index: int) -> None:
        self.owner = owner
        self.mapping = mapping
        self.queue = queue
        self.sqs = aws_client("sqs", owner.endpoint_url, owner.template.region)  # a client per thread
        self.future: concurrent.futures.Future[Invocation] | None = None
        self.idle = threading.Event()  # set while no batch is being handled
        self.idle.set()
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name=f"sqs-{mapping.function}-{mapping.event}-{index}")
        timeout = owner.template.functions[mapping.function].timeout
        visibility = queue.spec.visibility_timeout
        # Keep a running batch hidden only where the queue would otherwise hand it out again mid-run:
        # hidden for `hold_seconds` at once (before the queue's own short timeout can run out), renewed
        # every half of it.
        self.hold_seconds = max(2 * visibility, HOLD_SECONDS) if visibility < timeout else None

    @property
    def stopping(self) -> bool:
        return self.owner.stopping.is_set()

    def _run(self) -> None:
        while not self.stopping:
            try:
                reply = self.sqs.receive_message(
                    QueueUrl=self.queue.url, MaxNumberOfMessages=self.mapping.batch_size,
                    WaitTimeSeconds=self.owner.wait_seconds, AttributeNames=["All"], MessageAttributeNames=["All"])
            except _AWS_ERRORS as exc:
                if self.stopping:
                    return
                log.warning("sqs poll failed; retrying", extra={"queue": self.queue.spec.logical_id,
                                                                "error": str(exc)})
                self.owner.stopping.wait(1.0)
                continue
            messages = reply.get("Messages") or []
            self.idle.clear()  # before looking at `stopping`: a stop either waits for this batch or sees none
            try:
                if self.stopping:
                    return  # received during the stop: they come back after their visibility timeout
                if messages:
                    self._handle(messages)
            finally:
                self.idle.set()

    def _handle(self, messages: list[dict[str, Any]]) -> None:
        mapping, region = self.mapping, self.owner.template.region
        event = {"Records": [sqs_record(m, self.queue.arn, region) for m in messages]}
        request_id = str(uuid.uuid4())
        t0 = time.perf_counter()
        outcome = self._invoke(event, request_id, messages)
        if outcome is None:  # abandoned at shutdown: the messages come back after their visibility timeout
            return
        ids = [m["MessageId"] for m in messages]
        failed = failed_message_ids(outcome, ids, mapping.report_batch_item_failures)
        done = [m for m in messages if m["MessageId"] not in failed]
        self._delete(done)
        if failed:
            self._release([m for m in messages if m["MessageId"] in failed])
        level = logging.INFO if not failed else logging.WARNING
        log.log(level, "sqs batch", extra={
            "function": mapping.function, "queue": self.queue.spec.logical_id, "request_id": request_id,
            "messages": len(messages), "failed": len(failed), "outcome": outcome.status,
            "error_type": (outcome.error or {}).get("errorType"),
            "ms": round((time.perf_counter() - t0) * 1000, 1)})

    def _invoke(self, event: dict[str, Any], request_id: str, messages: list[dict[str, Any]]) -> Invocation | None:
        """Run the batch on the function's pool (in the stack's event loop), keeping it hidden meanwhile."""
        try:
            self.future = asyncio.run_coroutine_threadsafe(
                self.owner.functions.invoke(self.mapping.function, event, request_id), self.owner.loop)
        except RuntimeError:  # the loop is closed: the stack is gone
            return None
        # Received hidden for the queue's VisibilityTimeout: a run that ends within half of it (most do)
        # costs no visibility call; a longer one is hidden `hold_seconds` at a time, renewed every half.
        wait = self.queue.spec.visibility_timeout / 2 if self.hold_seconds else None
        try:
            while True:
                try:
                    return self.future.result(timeout=wait)
                except concurrent.futures.TimeoutError:
                    self._hide(messages, self.hold_seconds or 0)
                    wait = (self.hold_seconds or 0) / 2
        except concurrent.futures.CancelledError:
            return None
        except Exception as exc:  # the pool refused (closed during shutdown): a failed batch
            return Invocation("error", error={"errorType": type(exc).__name__, "errorMessage": str(exc)})
        finally:
            self.future = None

    def _hide(self, messages: Iterable[dict[str, Any]], seconds: int) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": seconds}
                   for i, m in enumerate(messages)]
        if not entries:
            return
        try:
            for start in range(0, len(entries), 10):
                self.sqs.change_message_visibility_batch(QueueUrl=self.queue.url, Entries=entries[start:start + 10])
        except _AWS_ERRORS as exc:
            if not self.stopping:
                log.warning("sqs: could not change visibility", extra={"queue": self.queue.spec.logical_id,
                                                                       "error": str(exc)})

    def _release(self, failed: list[dict[str, Any]]) -> None:
        """Failed messages come back one visibility timeout after the failure (not after the last
        extension), as they do on AWS after a run shorter than the timeout."""
        if self.hold_seconds is not None:
            self._hide(failed, self.queue.spec.visibility_timeout)

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
        try:
            for start in range(0, len(entries), 10):
                reply = self.sqs.delete_message_batch(QueueUrl=self.queue.url, Entries=entries[start:start + 10])
                if reply.get("Failed"):
                    log.warning("sqs: messages not deleted; they will be delivered again", extra={
                        "queue": self.queue.spec.logical_id, "failed": len(reply["Failed"])})
        except _AWS_ERRORS as exc:
            log.warning("sqs: delete failed; the messages will be delivered again", extra={
                "queue": self.queue.spec.logical_id, "error": str(exc)})


class EventSources:
    """Every enabled `SQS` event-source mapping of a template, polled by threads."""

    def __init__(self, template: StackTemplate, functions: FunctionHost, endpoint_url: str,
                 queues: dict[str, Queue], loop: asyncio.AbstractEventLoop, *, wait_seconds: int = WAIT_SECONDS,
                 concurrency: int | None = None) -> None:
        self.template = template
        self.functions = functions
        self.endpoint_url = endpoint_url
        self.loop = loop
        self.wait_seconds = wait_seconds
        self.stopping = threading.Event()
        default = concurrency or int(os.environ.get("ENEO_SQS_CONCURRENCY") or DEFAULT_CONCURRENCY)
        self.pollers: list[_Poller] = []
        for mapping in template.sqs_event_sources:
            if not mapping.enabled:
                continue
            wanted = mapping.maximum_concurrency or default
            count = max(1, min(wanted, functions.pools[mapping.function].max_instances))
            self.pollers += [_Poller(self, mapping, queues[mapping.queue], i) for i in range(count)]

    def start(self) -> None:
        """Start the pollers; each function keeps one warm instance per poller (FunctionPool.keep_warm)."""
        pollers: dict[str, int] = {}
        for poller in self.pollers:
            pollers[poller.mapping.function] = pollers.get(poller.mapping.function, 0) + 1
        for function, count in pollers.items():
            self.loop.call_soon_threadsafe(self.functions.pools[function].keep_warm, count)
        for poller in self.pollers:
            poller.thread.start()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop polling; batches still running after `grace` seconds are abandoned (their messages stay)."""
        self.stopping.set()
        await asyncio.gather(*(asyncio.to_thread(p.idle.wait, grace) for p in self.pollers))
        abandoned = 0
        for poller in self.pollers:
            future = poller.future
            if future is not None and future.cancel():
                abandoned += 1
        # A cancelled batch ends at once (its poller deletes nothing and returns).
        await asyncio.gather(*(asyncio.to_thread(p.idle.wait, 5.0) for p in self.pollers))
        if abandoned:
            log.warning("sqs batches abandoned at shutdown; their messages stay in the queue",
                        extra={"batches": abandoned})

    def describe(self) -> list[dict[str, Any]]:
        """Each mapping: function, queue, batch size, pollers (for the CLI and endpoints.json)."""
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for poller in self.pollers:
            key = (poller.mapping.function, poller.mapping.event)
            entry = out.setdefault(key, {"function": poller.mapping.function, "queue": poller.queue.spec.logical_id,
                                         "batch_size": poller.mapping.batch_size, "pollers": 0})
            entry["pollers"] += 1
        return list(out.values())
