"""The scheduled sweep (functions/sweep, eneo.ingestion.sweep) over the real pipeline's pieces: documents of
two tenants left `processing` by a killed run are re-queued by one invoke of the sweep function, with the
event EventBridge sends; a document still within INGEST_STALE_SECONDS is left alone."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import update

from eneo.core.db import UnitOfWork
from eneo.core.settings import get_settings
from eneo.knowledge.models import InfoBlob, InfoBlobStatus
from tests.integration.conftest import load_function
from tests.integration.pipeline import (  # noqa: F401 (fixtures)
    TEXT,
    Collection,
    Queues,
    age,
    blob,
    invoke,
    new_collection,
    queues,
    settings_restored,
    upload,
)

SCHEDULED_EVENT = {
    "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa", "detail-type": "Scheduled Event",
    "source": "aws.events", "account": "123456789012", "time": "2026-11-30T05:00:00Z", "region": "eu-north-1",
    "resources": ["arn:aws:events:eu-north-1:123456789012:rule/eneo-SweepFunctionSweep"], "detail": {}}


@pytest.fixture(scope="module")
def sweep() -> Any:
    return load_function("sweep")


async def killed_while_processing(c: Collection, q: Queues, n: int, seconds_ago: float) -> uuid.UUID:
    """A document ingest claimed and never finished (its function timed out), last changed `seconds_ago`."""
    blob_id = await upload(c, q, f"Dokument {n}. {TEXT}".encode(), f"dok-{n}.txt", "text/plain")
    async with UnitOfWork(c.member.tenant_id) as uow:
        await uow.session.execute(update(InfoBlob).where(InfoBlob.id == blob_id).values(
            status=InfoBlobStatus.processing, attempts=1))
    await age(c, blob_id, seconds_ago)
    return blob_id


def retried_blobs(q: Queues) -> set[str]:
    """The blob ids of the retry messages on the ingest queue (S3's own notifications are skipped)."""
    found = set()
    for m in q.receive(q.ingest_url, expect=99, wait=3.0):
        retry = json.loads(m["Body"]).get("retry")
        if retry:
            found.add(retry["blob_id"])
    return found


async def test_one_sweep_requeues_stale_documents_of_every_tenant_and_leaves_fresh_ones(
        make_user: Callable[..., Any], queues: Queues, sweep: Any) -> None:  # noqa: F811
    q, stale = queues, get_settings().ingest_stale_seconds
    first, second = await new_collection(make_user), await new_collection(make_user)
    a = await killed_while_processing(first, q, 1, stale + 60)
    b = await killed_while_processing(second, q, 2, stale + 60)
    fresh = await killed_while_processing(second, q, 3, stale / 2)
    q.receive(q.ingest_url, expect=99, wait=3.0)  # the uploads' S3 notifications: not what is asserted

    result = await invoke(sweep, SCHEDULED_EVENT)

    assert result["failed"] == 0 and result["tenants"] >= 2 and result["resumed"] >= 2
    assert (await blob(first, a)).status == InfoBlobStatus.queued  # back in line, its file stored
    assert (await blob(second, b)).status == InfoBlobStatus.queued
    assert (await blob(second, fresh)).status == InfoBlobStatus.processing
    retried = retried_blobs(q)
    assert {str(a), str(b)} <= retried
    assert str(fresh) not in retried
