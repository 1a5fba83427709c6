"""Driving the ingestion pipeline in-process, for the tests that need it: S3 (moto) notifies a real SQS
queue, the messages received from it become Lambda SQS events for the ingest handler, whose embed
messages (received from the embed queue) feed the embed handler.

The handlers run as Lambda runs them: `functions/<name>/app.py`'s `handler(event, context)`, in a
worker thread with its own event loop (eneo.core.aio), so the process-wide engine and Redis client
are closed around each call (they belong to one loop).

A test module takes the fixtures by name: `queues, functions = pipeline.queues, pipeline.functions`
(an assignment, not an import, so a test's parameter of the same name shadows nothing unused).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from sqlalchemy import func, select, update

from eneo.core import aio, storage
from eneo.core.db import UnitOfWork, dispose_engine
from eneo.core.redis import close_redis, get_redis
from eneo.core.settings import get_settings
from eneo.core.user_events import events_key
from eneo.knowledge.models import Group, InfoBlob, InfoBlobStatus
from eneo.model_providers.embedding_service import ensure_local_embedding_model
from eneo.spaces.models import Space
from tests.integration.conftest import Member, load_function

if TYPE_CHECKING:
    import httpx

    from tests.fakes.openai_extras import FakeOpenAIExtras

REGION = "eu-north-1"
PROVIDERS = "/api/v1/admin/model-providers/"
EMBED_ARN = f"arn:aws:sqs:{REGION}:000000000000:embed"


class LambdaContext:
    """What a handler reads of Lambda's context object."""

    aws_request_id = "test-request"

    def get_remaining_time_in_millis(self) -> int:
        return 120_000


@dataclass
class Queues:
    s3: Any
    sqs: Any
    bucket: str
    ingest_url: str
    embed_url: str
    ingest_arn: str

    def receive(self, url: str, *, expect: int = 1, wait: float = 10.0) -> list[dict[str, Any]]:
        """Messages as the Lambda event source mapping would hand them over (S3 test events included)."""
        got: list[dict[str, Any]] = []
        deadline = asyncio.get_event_loop().time() + wait
        while len(got) < expect and asyncio.get_event_loop().time() < deadline:
            got += self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                            AttributeNames=["All"]).get("Messages", [])
        return got

    def event(self, messages: list[dict[str, Any]], arn: str | None = None) -> dict[str, Any]:
        return {"Records": [{
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m.get("Attributes", {"ApproximateReceiveCount": "1"}), "messageAttributes": {},
            "md5OfBody": m.get("MD5OfBody", ""), "eventSource": "aws:sqs",
            "eventSourceARN": arn or self.ingest_arn, "awsRegion": REGION} for m in messages]}

    def delete_done(self, url: str, messages: list[dict[str, Any]], response: dict[str, Any]) -> None:
        """What the event source mapping does after a batch: delete all but the reported failures."""
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        for m in messages:
            if m["MessageId"] not in failed:
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


@pytest.fixture
def queues(db: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Queues]:
    """A documents bucket notifying its own ingest queue for tenants/ (as the template wires it), and an
    embed queue, in moto; the settings point at them during the test."""
    endpoint, suffix = db.s3_endpoint_url, uuid.uuid4().hex[:10]
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=REGION)
    bucket = f"docs-{suffix}"
    ingest_url = sqs.create_queue(QueueName=f"ingest-{suffix}")["QueueUrl"]
    embed_url = sqs.create_queue(QueueName=f"embed-{suffix}")["QueueUrl"]
    ingest_arn = sqs.get_queue_attributes(QueueUrl=ingest_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [{
        "QueueArn": ingest_arn, "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "tenants/"}]}}}]})
    for name, value in {"DOCUMENTS_BUCKET": bucket, "INGEST_QUEUE_URL": ingest_url,
                        "EMBED_QUEUE_URL": embed_url}.items():
        monkeypatch.setenv(name, value)
    restore_settings()
    yield Queues(s3, sqs, bucket, ingest_url, embed_url, ingest_arn)
    restore_settings()


@pytest.fixture(scope="module")
def functions() -> dict[str, Any]:
    return {name: load_function(name) for name in ("ingest", "embed")}


@pytest.fixture(autouse=True)
async def settings_restored() -> AsyncIterator[None]:
    """For a module whose tests change settings: bound there, it restores them after each test."""
    yield
    restore_settings()


def restore_settings() -> None:
    """Read the settings (and the S3 clients built from them) from the environment again."""
    get_settings.cache_clear()
    storage.reset_clients()


async def invoke(function: Any, event: dict[str, Any]) -> dict[str, Any]:
    """Call a function's handler as its Lambda worker would (own thread, own loop, own connections)."""
    await dispose_engine()
    await close_redis()

    def call() -> dict[str, Any]:
        try:
            return dict(function.handler(json.loads(json.dumps(event)), LambdaContext()))
        finally:
            aio.run(dispose_engine())
            aio.run(close_redis())

    return await asyncio.to_thread(call)


def notifications(q: Queues, expect: int) -> list[dict[str, Any]]:
    """The ingest queue's messages for objects (the bucket's s3:TestEvent is received too, and kept)."""
    return q.receive(q.ingest_url, expect=expect + 1, wait=5.0)


async def run_embed(q: Queues, functions: dict[str, Any], expect: int) -> list[dict[str, Any]]:
    """The embed handler on the embed queue's messages (at least `expect`), all of them handled."""
    messages = q.receive(q.embed_url, expect=expect)
    assert len(messages) >= expect, f"{len(messages)} embed message(s), expected {expect}"
    response = await invoke(functions["embed"], q.event(messages, arn=EMBED_ARN))
    assert response == {"batchItemFailures": []}
    q.delete_done(q.embed_url, messages, response)
    return messages


# --- a collection on the local model, documents in it, and what tests read back -----------------

TEXT = ("Riktlinjer för hemtjänst. Den enskilde ska få stöd i hemmet utifrån sina behov. "
        "Biståndshandläggaren utreder ansökan och fattar beslut inom fyra veckor. ") * 40


@dataclass
class Collection:
    member: Member
    group_id: uuid.UUID
    model_id: uuid.UUID


@pytest.fixture
async def collection(make_user: Callable[..., Any]) -> Collection:
    return await new_collection(make_user)


async def new_collection(make_user: Callable[..., Any]) -> Collection:
    """A new tenant's user and a collection on the local embedding model in their personal space."""
    member = await make_user()
    async with UnitOfWork(member.tenant_id) as uow:
        space = await uow.session.scalar(select(Space).where(Space.owner_id == member.id, Space.personal))
        assert space is not None
        model = await ensure_local_embedding_model(uow.session, member.tenant_id)
        group = Group(tenant_id=member.tenant_id, space_id=space.id, name="Riktlinjer", description="",
                      embedding_model_id=model.id, created_by=member.id)
        uow.session.add(group)
        await uow.session.flush()
        return Collection(member, group.id, model.id)


async def upload(c: Collection, q: Queues, data: bytes, filename: str, declared: str, title: str | None = None,
                 language: str | None = None) -> uuid.UUID:
    """The blob row (uploading) and its object, as the knowledge function's upload does."""
    blob_id = uuid.uuid4()
    key = storage.object_key(c.member.tenant_id, c.group_id, blob_id)
    async with UnitOfWork(c.member.tenant_id) as uow:
        uow.session.add(InfoBlob(id=blob_id, tenant_id=c.member.tenant_id, group_id=c.group_id,
                                 uploaded_by=c.member.id, title=title or filename, filename=filename,
                                 declared_type=declared, object_key=key, status=InfoBlobStatus.uploading,
                                 language=language))
    q.s3.put_object(Bucket=q.bucket, Key=key, Body=data, ContentType=declared)
    return blob_id


async def blob(c: Collection, blob_id: uuid.UUID) -> InfoBlob:
    async with UnitOfWork(c.member.tenant_id) as uow:
        return await uow.session.get_one(InfoBlob, blob_id)


async def statuses(c: Collection, blob_id: uuid.UUID) -> list[str]:
    entries = await get_redis().xrange(events_key(c.member.id))
    data = [json.loads(fields[b"data"]) for _, fields in entries if fields[b"type"] == b"info_blob.status"]
    return [d["status"] for d in data if d["id"] == str(blob_id)]


async def age(c: Collection, blob_id: uuid.UUID, seconds: float) -> None:
    """Make the blob's last change `seconds` old (as if nothing had happened to it since)."""
    async with UnitOfWork(c.member.tenant_id) as uow:
        await uow.session.execute(update(InfoBlob).where(InfoBlob.id == blob_id).values(
            updated_at=func.now() - timedelta(seconds=seconds)))


# --- model providers through the API ---------------------------------------------------------------


async def add_provider(client: httpx.AsyncClient, admin: Member, type_: str = "openai_compatible",
                       base_url: str = "http://127.0.0.1:1/v1", api_key: str | None = None) -> str:
    """A provider of the admin's tenant (by default at an address nobody answers); its id."""
    body: dict[str, Any] = {"name": f"p-{uuid.uuid4().hex[:6]}", "type": type_}
    if type_ == "openai_compatible":
        body |= {"base_url": base_url, **({"api_key": api_key} if api_key else {})}
    else:
        body["api_key"] = "sk-" + "x" * 30
    r = await client.post(PROVIDERS, headers=admin.headers, json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def fake_provider(client: httpx.AsyncClient, admin: Member, fake: FakeOpenAIExtras) -> str:
    """An OpenAI-compatible provider at the fake server (its key, if it wants one)."""
    return await add_provider(client, admin, base_url=fake.openai_url, api_key=fake.api_key or "any-key")
