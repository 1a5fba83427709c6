"""SQS event-source mappings against a real moto server, with real worker processes.

The consumer of tests/local/fixtures/sqs records every record it is handed (so the tests see the
event a function saw, and how often) and fails, raises or sleeps as the message body asks. The
queues' VisibilityTimeout is 1 s, so a failed message comes back within about a second.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest

from eneo_local.event_sources import (
    EventSources,
    Queue,
    apply_bucket_notifications,
    ensure_queues,
    event_sources_enabled,
    failed_message_ids,
)
from eneo_local.s3_mirror import MIRROR_ID, ObjectStore, S3Mirror, aws_clients, ensure_bucket
from eneo_local.services import free_port, wait_for_port
from eneo_local.template import StackTemplate, load_template
from eneo_local.workers import FunctionHost, Invocation

FIXTURE = Path(__file__).parent / "fixtures" / "sqs" / "template.yaml"
REGION = "eu-north-1"
VISIBILITY = 1  # seconds: how soon a failed message is back
WAIT = 20.0


@dataclass
class SqsStack:
    endpoint: str
    template: StackTemplate
    functions: FunctionHost
    queues: dict[str, Queue]
    record: Path
    mirror_root: Path
    s3: Any
    sqs: Any

    def records(self, marker: str) -> list[dict[str, Any]]:
        """What the functions were handed for messages with this marker: {request_id, function, record}."""
        path = self.record / "sqs-records.jsonl"
        lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        return [r for r in lines if _marker(r["record"]["body"]) == marker]

    def url(self, queue: str) -> str:
        return self.queues[queue].url

    def send(self, queue: str, **body: Any) -> str:
        return str(self.sqs.send_message(QueueUrl=self.url(queue), MessageBody=json.dumps(body))["MessageId"])

    def count(self, queue: str) -> int:
        """Messages in a queue, visible or not."""
        attributes = self.sqs.get_queue_attributes(QueueUrl=self.url(queue), AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        return sum(int(v) for v in attributes.values())


def _marker(body: str) -> str | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value.get("marker") if isinstance(value, dict) else None


async def wait_until(condition: Callable[[], Any], seconds: float = WAIT, what: str = "the condition") -> Any:
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)
    return value


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(  # noqa: S603 - fixed argv
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture(scope="module")
async def stack(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SqsStack]:
    record, mirror_root = tmp_path_factory.mktemp("sqs-record"), tmp_path_factory.mktemp("sqs-mirror")
    template = load_template(FIXTURE, {"RecordDir": str(record), "VisibilitySeconds": str(VISIBILITY)},
                             stack_name="t", sqs_endpoint_url=moto_endpoint)
    s3, sqs = aws_clients(moto_endpoint, REGION)
    for bucket in template.buckets.values():
        ensure_bucket(s3, bucket, REGION)
    mirror = S3Mirror(moto_endpoint, REGION, mirror_root, [b.name for b in template.buckets.values()])
    mirror.start()  # restore + the mirror's notification first, as the stack does
    queues = ensure_queues(sqs, template)
    apply_bucket_notifications(s3, template, queues)
    functions = FunctionHost(template, {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
                                        "AWS_ENDPOINT_URL_SQS": moto_endpoint}, max_concurrency=2)
    try:
        assert all((await functions.start()).values())
        yield SqsStack(moto_endpoint, template, functions, queues, record, mirror_root, s3, sqs)
    finally:
        await functions.close()
        mirror.stop()


@pytest.fixture
async def sources(stack: SqsStack) -> AsyncIterator[Callable[..., EventSources]]:
    """Starts the mappings on demand, on empty queues; stops them after the test."""
    for queue in stack.queues.values():  # what an earlier test left (PurgeQueue: once a minute)
        deadline = time.monotonic() + 5
        while stack.count(queue.spec.logical_id) and time.monotonic() < deadline:
            for message in stack.sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10,
                                                     WaitTimeSeconds=1).get("Messages", []):
                stack.sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=message["ReceiptHandle"])
    started: list[EventSources] = []

    def start(concurrency: int = 1) -> EventSources:
        mappings = EventSources(stack.template, stack.functions, stack.endpoint, stack.queues,
                                asyncio.get_running_loop(), concurrency=concurrency, wait_seconds=1)
        mappings.start()
        started.append(mappings)
        return mappings

    yield start
    for mappings in started:
        await mappings.stop(grace=0.5)
        # A stop does not wait for long polls; the next test's messages must not meet this one's pollers.
        await asyncio.gather(*(asyncio.to_thread(p.thread.join, 5) for p in mappings.pollers))


def test_the_template_wires_queues_and_mappings(stack: SqsStack) -> None:
    jobs = stack.template.queues["Jobs"]
    assert (jobs.dead_letter_queue, jobs.max_receive_count, jobs.visibility_timeout) == ("JobsDeadLetters", 3, 1)
    assert stack.template.functions["ConsumerFunction"].environment["JOBS_QUEUE_URL"] == stack.url("Jobs")
    attributes = stack.sqs.get_queue_attributes(QueueUrl=stack.url("Jobs"), AttributeNames=["All"])["Attributes"]
    assert json.loads(attributes["RedrivePolicy"]) == {"deadLetterTargetArn": stack.queues["JobsDeadLetters"].arn,
                                                       "maxReceiveCount": 3}
    assert attributes["VisibilityTimeout"] == "1"
    dead = stack.sqs.get_queue_attributes(QueueUrl=stack.url("JobsDeadLetters"), AttributeNames=["All"])
    assert dead["Attributes"]["MessageRetentionPeriod"] == "1209600"
    by_function = {(m.function, m.queue): m for m in stack.template.sqs_event_sources}
    consumer, plain = by_function["ConsumerFunction", "Jobs"], by_function["PlainFunction", "Plain"]
    assert (consumer.batch_size, consumer.report_batch_item_failures) == (5, True)
    assert (plain.batch_size, plain.report_batch_item_failures) == (3, False)
    assert not by_function["PlainFunction", "Parked"].enabled


async def test_event_has_lambdas_shape_and_successes_are_deleted(
        stack: SqsStack, sources: Callable[..., EventSources]) -> None:
    body = json.dumps({"marker": "shape"})
    message_id = stack.sqs.send_message(QueueUrl=stack.url("Jobs"), MessageBody=body, MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "upload"},
        "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}})["MessageId"]
    sources()
    (seen,) = await wait_until(lambda: stack.records("shape"), what="the delivery")
    record = seen["record"]
    assert set(record) == {"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
                           "md5OfMessageAttributes", "eventSource", "eventSourceARN", "awsRegion"}
    assert (record["messageId"], record["body"]) == (message_id, body)
    assert record["md5OfBody"] == hashlib.md5(body.encode()).hexdigest()  # noqa: S324 - SQS's checksum
    assert (record["eventSource"], record["eventSourceARN"], record["awsRegion"]) == (
        "aws:sqs", f"arn:aws:sqs:{REGION}:123456789012:t-Jobs", REGION)
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])
    assert record["messageAttributes"] == {
        "kind": {"stringValue": "upload", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
        "raw": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"}}
    assert seen["function"] == "t-consumer"
    await wait_until(lambda: stack.count("Jobs") == 0, what="the message to be deleted")
    await asyncio.sleep(VISIBILITY + 1)
    assert len(stack.records("shape")) == 1, "a success is not delivered again"


async def test_a_partial_batch_failure_is_retried_alone(stack: SqsStack, sources: Callable[..., EventSources]) -> None:
    entries = [{"Id": name, "MessageBody": json.dumps({"marker": "partial", "name": name, **extra})}
               for name, extra in (("a", {}), ("b", {"fail": 1}), ("c", {}))]
    ids: dict[str, str] = {}
    for sent in stack.sqs.send_message_batch(QueueUrl=stack.url("Jobs"), Entries=entries)["Successful"]:
        ids[sent["Id"]] = sent["MessageId"]
    sources()  # one poller, after all three are queued: they come as one batch
    await wait_until(lambda: len(stack.records("partial")) >= 4, what="the retry of b")
    await wait_until(lambda: stack.count("Jobs") == 0, what="the queue to empty")
    runs = stack.records("partial")
    assert len(runs) == 4
    first, retry = runs[0]["request_id"], runs[3]["request_id"]
    assert {r["record"]["messageId"] for r in runs if r["request_id"] == first} == set(ids.values())
    assert [r["record"]["messageId"] for r in runs if r["request_id"] == retry] == [ids["b"]]
    assert runs[3]["record"]["attributes"]["ApproximateReceiveCount"] == "2"
    assert stack.count("JobsDeadLetters") == 0


async def test_a_function_error_leaves_the_whole_batch(stack: SqsStack, sources: Callable[..., EventSources]) -> None:
    """Without ReportBatchItemFailures: an exception retries every message, a reply fails none."""
    entries = [{"Id": name, "MessageBody": json.dumps({"marker": "whole", "name": name, **extra})}
               for name, extra in (("x", {"raise": 1}), ("y", {}), ("z", {"fail": 5}))]
    stack.sqs.send_message_batch(QueueUrl=stack.url("Plain"), Entries=entries)
    sources()
    await wait_until(lambda: len(stack.records("whole")) >= 6, what="the retried batch")
    await wait_until(lambda: stack.count("Plain") == 0, what="the queue to empty")
    await asyncio.sleep(VISIBILITY + 1)
    runs = stack.records("whole")
    assert len(runs) == 6, "the failed batch once more, then everything deleted (batchItemFailures ignored)"
    assert len({r["request_id"] for r in runs}) == 2
    assert sorted(r["record"]["attributes"]["ApproximateReceiveCount"] for r in runs) == ["1"] * 3 + ["2"] * 3


async def test_a_message_failing_every_attempt_lands_in_the_dead_letter_queue(
        stack: SqsStack, sources: Callable[..., EventSources]) -> None:
    message_id = stack.send("Jobs", marker="poison", fail=99)
    stack.send("Jobs", marker="healthy")
    t0 = time.monotonic()
    sources(concurrency=2)
    dead = await wait_until(lambda: stack.sqs.receive_message(
        QueueUrl=stack.url("JobsDeadLetters"), AttributeNames=["All"]).get("Messages"), what="the dead letter")
    elapsed = time.monotonic() - t0
    assert [m["MessageId"] for m in dead] == [message_id]
    assert json.loads(dead[0]["Body"]) == {"marker": "poison", "fail": 99}
    stack.sqs.delete_message(QueueUrl=stack.url("JobsDeadLetters"), ReceiptHandle=dead[0]["ReceiptHandle"])
    runs = stack.records("poison")
    assert [r["record"]["attributes"]["ApproximateReceiveCount"] for r in runs] == ["1", "2", "3"]
    assert len(stack.records("healthy")) == 1, "the other message went through once"
    assert elapsed < 3 * VISIBILITY + 6, f"took {elapsed:.1f} s"
    await wait_until(lambda: stack.count("Jobs") == 0, what="the source queue to empty")


async def test_a_malformed_report_fails_the_whole_batch(stack: SqsStack, sources: Callable[..., EventSources]) -> None:
    entries = [{"Id": name, "MessageBody": json.dumps({"marker": "malformed", **extra})}
               for name, extra in (("p", {}), ("q", {"bad_report": 1}))]
    stack.sqs.send_message_batch(QueueUrl=stack.url("Jobs"), Entries=entries)
    sources()
    await wait_until(lambda: len(stack.records("malformed")) >= 4, what="the retried batch")
    await wait_until(lambda: stack.count("Jobs") == 0, what="the queue to empty")
    assert len(stack.records("malformed")) == 4


async def test_a_slow_batch_is_not_delivered_twice(stack: SqsStack, sources: Callable[..., EventSources]) -> None:
    """The run (3 s) outlasts the queue's visibility (1 s): the mapping keeps the message hidden."""
    stack.send("Jobs", marker="slow", sleep=3)
    sources(concurrency=2)
    await wait_until(lambda: stack.records("slow"), what="the delivery")
    await wait_until(lambda: stack.count("Jobs") == 0, what="the message to be deleted")
    await asyncio.sleep(VISIBILITY + 1)
    assert len(stack.records("slow")) == 1


async def test_stop_abandons_a_running_batch_and_keeps_its_message(
        stack: SqsStack, sources: Callable[..., EventSources]) -> None:
    stack.send("Jobs", marker="abandoned", sleep=3)
    mappings = sources()
    await wait_until(lambda: stack.records("abandoned"), what="the delivery")
    t0 = time.monotonic()
    await mappings.stop(grace=0.2)
    assert time.monotonic() - t0 < 2, "a stop waits for no long poll and at most the grace for a batch"
    await wait_until(lambda: not any(p.thread.is_alive() for p in mappings.pollers), seconds=3,
                     what="the pollers to end")
    assert stack.count("Jobs") == 1, "at-least-once: the message stays for the next poller"
    handle = stack.records("abandoned")[0]["record"]["receiptHandle"]
    stack.sqs.delete_message(QueueUrl=stack.url("Jobs"), ReceiptHandle=handle)  # not wait 10 s for it


async def test_bucket_notification_reaches_the_queue_and_the_mirror_still_works(
        stack: SqsStack, sources: Callable[..., EventSources]) -> None:
    bucket = stack.template.buckets["Docs"]
    config = stack.s3.get_bucket_notification_configuration(Bucket=bucket.name)["QueueConfigurations"]
    assert {q["Id"] for q in config} == {"Docs-Jobs-0", MIRROR_ID}, "merged, neither replaced the other"
    ours = next(q for q in config if q["Id"] == "Docs-Jobs-0")
    assert ours["QueueArn"] == stack.queues["Jobs"].arn
    assert ours["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "tenants/"}]
    sources()
    key = f"tenants/{uuid.uuid4()}/groups/g/blobs/b"
    stack.s3.put_object(Bucket=bucket.name, Key=key, Body=b"document")
    stack.s3.put_object(Bucket=bucket.name, Key="elsewhere/x", Body=b"not ingested")

    def s3_records() -> list[dict[str, Any]]:
        path = stack.record / "sqs-records.jsonl"
        out = []
        for line in path.read_text().splitlines() if path.exists() else []:
            body = json.loads(json.loads(line)["record"]["body"])
            out += [r for r in body.get("Records", []) if r.get("eventSource") == "aws:s3"]
        return out

    def keys() -> list[str]:  # keys in S3 events are URL-encoded (moto encodes "/" too)
        return [unquote_plus(r["s3"]["object"]["key"]) for r in s3_records()]

    (event,) = await wait_until(lambda: [r for r in s3_records() if unquote_plus(r["s3"]["object"]["key"]) == key],
                                what="the S3 event at the consumer")
    assert event["eventName"].startswith("ObjectCreated:")
    assert event["s3"]["bucket"]["name"] == bucket.name

    def on_disk() -> dict[str, bytes]:
        store = ObjectStore(stack.mirror_root, bucket.name)
        out = {}
        for stored in store.objects():
            with store.open_body(stored) as body:
                out[stored.key] = body.read()
        return out

    await wait_until(lambda: on_disk().get(key) == b"document" and "elsewhere/x" in on_disk(),
                     what="the mirror's copy")
    await asyncio.sleep(VISIBILITY + 1)
    assert keys() == [key], "once, and the prefix filter holds"


@pytest.mark.parametrize(("status", "result", "report", "failed"), [
    ("ok", {"batchItemFailures": [{"itemIdentifier": "b"}]}, True, {"b"}),
    ("ok", {"batchItemFailures": []}, True, set()),
    ("ok", {"batchItemFailures": None}, True, set()),
    ("ok", {}, True, set()),
    ("ok", None, True, set()),
    ("ok", {"batchItemFailures": [{"itemIdentifier": "zzz"}]}, True, {"a", "b"}),
    ("ok", {"batchItemFailures": [{"itemIdentifier": ""}]}, True, {"a", "b"}),
    ("ok", {"batchItemFailures": [{"id": "a"}]}, True, {"a", "b"}),
    ("ok", "not an object", True, {"a", "b"}),
    ("ok", {"batchItemFailures": [{"itemIdentifier": "b"}]}, False, set()),
    ("error", None, True, {"a", "b"}),
    ("timeout", None, False, {"a", "b"}),
    ("crash", None, True, {"a", "b"}),
])
def test_which_messages_stay(status: Any, result: Any, report: bool, failed: set[str]) -> None:
    """Lambda's rules for what a batch's outcome leaves in the queue."""
    assert failed_message_ids(Invocation(status, result=result), ["a", "b"], report) == failed


@pytest.mark.parametrize(("value", "on"), [(None, True), ("on", True), ("off", False), ("0", False)])
def test_eneo_event_sources_off_disables_the_queue_pollers(monkeypatch: pytest.MonkeyPatch, value: str | None,
                                                           on: bool) -> None:
    if value is None:
        monkeypatch.delenv("ENEO_EVENT_SOURCES", raising=False)
    else:
        monkeypatch.setenv("ENEO_EVENT_SOURCES", value)
    assert event_sources_enabled() is on
