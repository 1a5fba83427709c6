"""Websites as knowledge: the crawler against a real site served on 127.0.0.1 (tests/fakes/website.py),
with the real database, S3 and SQS (moto), and the real ingest and embed handlers.

The crawl function is invoked as Lambda would be, on the message the knowledge function (or the crawl itself,
when it re-queues) put on the crawl queue.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import boto3
import httpx
import pytest
from sqlalchemy import func, select, update

from eneo.core.db import UnitOfWork
from eneo.core.ids import utcnow
from eneo.knowledge.models import InfoBlob, InfoBlobStatus
from eneo.model_providers.embedding_service import ensure_local_embedding_model
from eneo.spaces.models import Space
from eneo.websites.crawl import crawl
from eneo.websites.models import CrawlRun, Website, WebsitePage
from eneo.websites.schedule import schedule_tenant
from tests.fakes import website as fake_site
from tests.fakes.website import FakeSite
from tests.integration import pipeline
from tests.integration.conftest import Member, load_function
from tests.integration.pipeline import REGION, Queues, invoke, restore_settings

queues, functions, settings_restored = pipeline.queues, pipeline.functions, pipeline.settings_restored
EMBED_ARN = pipeline.EMBED_ARN


@pytest.fixture(scope="module")
def crawl_function() -> Any:
    return load_function("crawl")


@pytest.fixture
def site() -> Iterator[FakeSite]:
    with FakeSite(slow_seconds=2.5) as s:
        yield s


@pytest.fixture
def crawl_queue(queues: Queues, monkeypatch: pytest.MonkeyPatch) -> str:
    """A crawl queue in moto, and crawler settings for a test: no extra delay (robots.txt's Crawl-delay still
    holds), 1 s per request, 1 MB per page."""
    sqs = boto3.client("sqs", endpoint_url=queues.sqs.meta.endpoint_url, region_name=REGION)
    url = sqs.create_queue(QueueName=f"crawl-{uuid.uuid4().hex[:10]}")["QueueUrl"]
    for name, value in {"CRAWL_QUEUE_URL": url, "CRAWL_DELAY_SECONDS": "0", "CRAWL_TIMEOUT_SECONDS": "1",
                        "CRAWL_PAGE_MAX_BYTES": str(1024 * 1024), "CRAWL_BUDGET_MARGIN_SECONDS": "5"}.items():
        monkeypatch.setenv(name, value)
    restore_settings()
    return str(url)


async def _json(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def personal_space(member: Member) -> uuid.UUID:
    async with UnitOfWork(member.tenant_id) as uow:
        space = await uow.session.scalar(select(Space).where(Space.owner_id == member.id, Space.personal))
        assert space is not None
        await ensure_local_embedding_model(uow.session, member.tenant_id)
        return space.id


async def add_website(client: httpx.AsyncClient, member: Member, site: FakeSite, **fields: Any) -> dict[str, Any]:
    space = await personal_space(member)
    body = {"url": site.root, "download_files": True, "auth_username": fake_site.USER,
            "auth_password": fake_site.PASSWORD, "max_depth": 5} | fields
    return dict(await _json(await client.post(f"/api/v1/spaces/{space}/knowledge/websites/", headers=member.headers,
                                              json=body), 201))


async def run_queued(q: Queues, queue_url: str, function: Any, *, max_invocations: int = 20) -> int:
    """Invoke the crawl function on the crawl queue's messages until none is left; how many invocations."""
    count = 0
    while count < max_invocations:
        messages = q.receive(queue_url, expect=1, wait=2.0)
        if not messages:
            return count
        response = await invoke(function, q.event(messages))
        q.delete_done(queue_url, messages, response)
        count += 1
    raise AssertionError("the crawl did not finish")


async def stored(member: Member, website_id: str) -> dict[str, WebsitePage]:
    async with UnitOfWork(member.tenant_id) as uow:
        pages = (await uow.session.scalars(select(WebsitePage).where(
            WebsitePage.website_id == uuid.UUID(website_id)))).all()
        return {p.url: p for p in pages}


async def latest_run(client: httpx.AsyncClient, member: Member, website_id: str) -> dict[str, Any]:
    runs = await _json(await client.get(f"/api/v1/websites/{website_id}/runs/", headers=member.headers), 200)
    return dict(runs["items"][-1])


# --- the API ---------------------------------------------------------------------------------------


async def test_website_crud_and_validation(client: httpx.AsyncClient, make_user: Callable[..., Any],
                                           site: FakeSite, crawl_queue: str) -> None:
    member = await make_user()
    created = await add_website(client, member, site, update_interval="weekly")
    assert created["auth_username"] == fake_site.USER and created["has_auth_password"] is True
    assert "auth_password" not in created and fake_site.PASSWORD not in str(created)
    assert created["next_run_at"] is not None and created["paused"] is False
    space = created["space_id"]
    listed = await _json(await client.get(f"/api/v1/spaces/{space}/knowledge/websites/", headers=member.headers), 200)
    assert [w["id"] for w in listed["items"]] == [created["id"]]
    # The website's pages are not a collection of the space.
    groups = await _json(await client.get(f"/api/v1/spaces/{space}/knowledge/groups/", headers=member.headers), 200)
    assert groups["items"] == []
    changed = await _json(await client.patch(f"/api/v1/websites/{created['id']}/", headers=member.headers,
                                             json={"name": "Exempelstad", "update_interval": "never",
                                                   "auth_username": None, "auth_password": None}), 200)
    assert changed["name"] == "Exempelstad" and changed["next_run_at"] is None
    assert changed["auth_username"] is None and changed["has_auth_password"] is False
    # Bad input: precise errors, nothing written.
    for body, code in [({"url": "ftp://example.org/"}, "validation_error"),
                       ({"url": "http://user:pw@example.org/"}, "validation_error"),
                       ({"url": "http://10.1.2.3/"}, "url_refused"),
                       ({"url": "http://169.254.169.254/latest/"}, "url_refused"),
                       ({"url": site.root, "max_pages": 0}, "validation_error"),
                       ({"url": site.root, "auth_username": "u"}, "validation_error")]:
        r = await client.post(f"/api/v1/spaces/{space}/knowledge/websites/", headers=member.headers, json=body)
        assert r.status_code == 422 and r.json()["code"] == code, (body, r.text)
    listed = await _json(await client.get(f"/api/v1/spaces/{space}/knowledge/websites/", headers=member.headers), 200)
    assert len(listed["items"]) == 1
    await _json(await client.delete(f"/api/v1/websites/{created['id']}/", headers=member.headers), 204)
    await _json(await client.get(f"/api/v1/websites/{created['id']}/", headers=member.headers), 404)


async def test_other_tenants_and_viewers(client: httpx.AsyncClient, make_user: Callable[..., Any],
                                         site: FakeSite, crawl_queue: str) -> None:
    owner, stranger = await make_user(), await make_user()
    website = await add_website(client, owner, site)
    run = await _json(await client.post(f"/api/v1/websites/{website['id']}/run/", headers=owner.headers), 202)
    for method, path, body in [("GET", f"/api/v1/websites/{website['id']}/", None),
                               ("PATCH", f"/api/v1/websites/{website['id']}/", {"name": "x"}),
                               ("DELETE", f"/api/v1/websites/{website['id']}/", None),
                               ("POST", f"/api/v1/websites/{website['id']}/searches/", {"query": "bygglov"}),
                               ("POST", f"/api/v1/websites/{website['id']}/run/", None),
                               ("GET", f"/api/v1/websites/{website['id']}/runs/", None),
                               ("GET", f"/api/v1/crawl-runs/{run['id']}/", None),
                               ("GET", f"/api/v1/spaces/{website['space_id']}/knowledge/websites/", None)]:
        r = await client.request(method, path, headers=stranger.headers, json=body)
        assert r.status_code == 404, (method, path, r.text)


# --- the crawler -----------------------------------------------------------------------------------


async def test_crawl_stores_exactly_the_allowed_pages_then_recrawls_only_what_changed(
        client: httpx.AsyncClient, make_user: Callable[..., Any], site: FakeSite, queues: Queues, crawl_queue: str,
        crawl_function: Any, functions: dict[str, Any]) -> None:
    member = await make_user()
    website = await add_website(client, member, site)
    run = await _json(await client.post(f"/api/v1/websites/{website['id']}/run/", headers=member.headers), 202)
    assert run["status"] == "queued"
    busy = await client.post(f"/api/v1/websites/{website['id']}/run/", headers=member.headers)
    assert busy.status_code == 409 and busy.json()["code"] == "crawl_running"

    await run_queued(queues, crawl_queue, crawl_function)
    done = await _json(await client.get(f"/api/v1/crawl-runs/{run['id']}/", headers=member.headers), 200)
    pages = await stored(member, website["id"])
    assert set(pages) == site.pages()
    assert done["status"] == "complete", done
    assert done["failures"] == {"redirect_off_site": 1, "too_large": 1, "timeout": 1}, done
    assert done["pages_fetched"] == len(site.pages()) and done["pages_failed"] == 3 and done["pages_removed"] == 0
    requested = site.paths_requested()
    assert not any(p.startswith("/private/") for p in requested)  # robots.txt
    assert "/elsewhere" not in requested and requested.count("/loop/a") == 1 and requested.count("/page/1") == 1
    times = [t for t, p, _ in site.requests if p != "/robots.txt"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # robots.txt's Crawl-delay between two requests. Measured where they arrive, so a request held up on its
    # way (a loaded machine) shortens the next gap: half the delay still tells a pause from none (~ms).
    assert min(gaps) >= fake_site.CRAWL_DELAY * 0.5, gaps
    # Progress went to the user's events stream.
    from eneo.core.redis import get_redis
    from eneo.core.user_events import events_key

    kinds = [f[b"type"] for _, f in await get_redis().xrange(events_key(member.id))]
    assert b"crawl_run.progress" in kinds

    # Every page went through ingest and embed like an upload; search finds a page and names its URL.
    notices = pipeline.notifications(queues, expect=len(site.pages()))
    response = await invoke(functions["ingest"], queues.event(notices))
    assert response == {"batchItemFailures": []}
    queues.delete_done(queues.ingest_url, notices, response)
    while messages := queues.receive(queues.embed_url, expect=1, wait=2.0):
        response = await invoke(functions["embed"], queues.event(messages, arn=EMBED_ARN))
        queues.delete_done(queues.embed_url, messages, response)
    async with UnitOfWork(member.tenant_id) as uow:
        statuses = (await uow.session.scalars(select(InfoBlob.status).where(
            InfoBlob.id.in_([p.info_blob_id for p in pages.values()])))).all()
    assert set(statuses) == {InfoBlobStatus.ready}, statuses
    hits = await _json(await client.post(f"/api/v1/websites/{website['id']}/searches/", headers=member.headers,
                                         json={"query": "simhallen renovering", "limit": 3}), 200)
    assert hits["items"][0]["url"] == site.url("/changing")
    members = await _json(await client.post(f"/api/v1/websites/{website['id']}/searches/", headers=member.headers,
                                            json={"query": "Folkets hus tisdag", "limit": 1}), 200)
    assert members["items"][0]["url"] == site.url("/members/")  # the basic-auth section
    body_text = " ".join(h["text"] for h in hits["items"])
    assert "Cookies" not in body_text and "Stadshuset" not in body_text  # the footer is left out

    # Second run: one page changed, one vanished; the others answer 304 and are not stored again.
    site.version = 2
    site.clear()
    hashes = {u: p.content_hash for u, p in pages.items()}
    second = await _json(await client.post(f"/api/v1/websites/{website['id']}/run/", headers=member.headers), 202)
    await run_queued(queues, crawl_queue, crawl_function)
    again = await _json(await client.get(f"/api/v1/crawl-runs/{second['id']}/", headers=member.headers), 200)
    assert again["status"] == "complete"
    assert again["pages_fetched"] == 1 and again["pages_removed"] == 1, (str(again), site.paths_requested())
    assert again["pages_unchanged"] == len(site.pages()) - 1
    conditional = [h for _, p, h in site.requests if p.startswith("/page/")]
    assert conditional and all("If-None-Match" in h for h in conditional)
    after = await stored(member, website["id"])
    assert set(after) == site.pages()
    assert site.url("/vanishing") not in after
    assert [u for u in after if after[u].content_hash != hashes.get(u)] == [site.url("/changing")]
    # Only the changed page went to ingestion again (one object written).
    renotified = pipeline.notifications(queues, expect=1)
    keys = [m["Body"] for m in renotified if "ObjectCreated" in m["Body"]]
    assert len(keys) == 1 and str(after[site.url("/changing")].info_blob_id) in keys[0]
    assert len(await latest_run(client, member, website["id"])) > 0


async def test_a_crawl_reports_its_progress_and_end_on_its_starters_events_stream_only(
        client: httpx.AsyncClient, make_user: Callable[..., Any], site: FakeSite, queues: Queues, crawl_queue: str,
        crawl_function: Any) -> None:
    """The websites screen follows a run live: `crawl_run.progress` events with the run's counts while it
    runs and its end, on the events stream of the user who started it; another tenant's user gets none."""
    from eneo.core.redis import get_redis
    from eneo.core.user_events import events_key

    member, stranger = await make_user(), await make_user()
    website = await add_website(client, member, site, max_pages=3, max_depth=1, download_files=False)
    run = await _json(await client.post(f"/api/v1/websites/{website['id']}/run/", headers=member.headers), 202)
    await run_queued(queues, crawl_queue, crawl_function)
    done = await _json(await client.get(f"/api/v1/crawl-runs/{run['id']}/", headers=member.headers), 200)

    redis = get_redis()
    progress = [json.loads(f[b"data"]) for _, f in await redis.xrange(events_key(member.id))
                if f[b"type"] == b"crawl_run.progress"]
    assert progress and {(p["id"], p["website_id"]) for p in progress} == {(run["id"], website["id"])}
    assert progress[0]["status"] == "running" and progress[0]["pages_found"] >= 1, progress[0]
    found = [p["pages_found"] for p in progress]
    assert found == sorted(found)  # counts only grow
    last = progress[-1]
    assert last["status"] == "complete" and last["finished_at"] is not None
    assert {k: last[k] for k in ("pages_found", "pages_fetched", "pages_failed", "failures")} == \
        {k: done[k] for k in ("pages_found", "pages_fetched", "pages_failed", "failures")}
    assert await redis.xlen(events_key(stranger.id)) == 0


async def test_a_run_whose_site_is_down_deletes_nothing_and_backs_off(
        client: httpx.AsyncClient, make_user: Callable[..., Any], site: FakeSite, queues: Queues, crawl_queue: str,
        crawl_function: Any) -> None:
    member = await make_user()
    website = await add_website(client, member, site, crawl_type="sitemap", update_interval="daily")
    await _json(await client.post(f"/api/v1/websites/{website['id']}/run/", headers=member.headers), 202)
    await run_queued(queues, crawl_queue, crawl_function)
    before = await stored(member, website["id"])
    # The sitemap's pages only: its 12 pages and the changing one.
    assert set(before) == {site.url(f"/page/{n}") for n in range(1, 13)} | {site.url("/changing")}

    site.down = True
    run = await _json(await client.post(f"/api/v1/websites/{website['id']}/run/", headers=member.headers), 202)
    await run_queued(queues, crawl_queue, crawl_function)
    failed = await _json(await client.get(f"/api/v1/crawl-runs/{run['id']}/", headers=member.headers), 200)
    assert failed["status"] == "failed" and "sitemap" in failed["error"]
    assert set(await stored(member, website["id"])) == set(before)
    state = await _json(await client.get(f"/api/v1/websites/{website['id']}/", headers=member.headers), 200)
    assert state["consecutive_failures"] == 1 and state["paused"] is False
    due = (utcnow() + timedelta(hours=1)).timestamp()
    assert abs(_ts(state["next_run_at"]) - due) < 60  # backs off 1 h

    # After 10 failed runs in a row it is paused, with the reason; one PATCH resumes it.
    async with UnitOfWork(member.tenant_id) as uow:
        await uow.session.execute(update(Website).where(Website.id == uuid.UUID(website["id"]))
                                  .values(consecutive_failures=9))
    await _json(await client.post(f"/api/v1/websites/{website['id']}/run/", headers=member.headers), 202)
    await run_queued(queues, crawl_queue, crawl_function)
    paused = await _json(await client.get(f"/api/v1/websites/{website['id']}/", headers=member.headers), 200)
    assert paused["paused"] is True and "10 failed crawls" in paused["paused_reason"]
    assert paused["next_run_at"] is None
    resumed = await _json(await client.patch(f"/api/v1/websites/{website['id']}/", headers=member.headers,
                                             json={"paused": False}), 200)
    assert resumed["paused"] is False and resumed["consecutive_failures"] == 0 and resumed["next_run_at"]


def _ts(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value).timestamp()


async def test_a_crawl_killed_midway_resumes_from_its_checkpoint(
        client: httpx.AsyncClient, make_user: Callable[..., Any], site: FakeSite, queues: Queues, crawl_queue: str,
        crawl_function: Any) -> None:
    member = await make_user()
    website = await add_website(client, member, site)
    run = await _json(await client.post(f"/api/v1/websites/{website['id']}/run/", headers=member.headers), 202)
    tenant, run_id = member.tenant_id, uuid.UUID(run["id"])
    # Killed: the invocation is cancelled in the middle of the site (as a timeout or a crash would end it).
    task = asyncio.create_task(crawl(tenant, run_id, deadline=time.monotonic() + 600))
    while len([p for p in site.paths_requested() if p.startswith("/page/")]) < 4:  # noqa: ASYNC110 - another thread's log
        await asyncio.sleep(0.05)
    # The kill: cancellations until the task ends. A library on the way may absorb one (the crawl then ran
    # to its end, 1 run in ~6 on Python 3.11); the real kill, the worker process ended on its timeout
    # (eneo_local.workers, Lambda), cannot be absorbed.
    while not task.done():
        task.cancel()
        await asyncio.sleep(0.01)
    with pytest.raises(asyncio.CancelledError):
        await task
    partial = await stored(member, website["id"])
    assert 0 < len(partial) < len(site.pages())
    # Its lease runs out; the message comes again (SQS's visibility timeout) and the crawl resumes.
    async with UnitOfWork(tenant) as uow:
        await uow.session.execute(update(CrawlRun).where(CrawlRun.id == run_id)
                                  .values(lease_until=func.now() - timedelta(seconds=1)))
    await run_queued(queues, crawl_queue, crawl_function)
    done = await _json(await client.get(f"/api/v1/crawl-runs/{run['id']}/", headers=member.headers), 200)
    assert done["status"] == "complete"
    assert set(await stored(member, website["id"])) == site.pages()  # no page missing
    fetched = [p for p in site.paths_requested() if p.startswith("/page/")]
    assert len(fetched) - len(set(fetched)) <= 1  # at most the page in flight when it was killed, again
    async with UnitOfWork(tenant) as uow:  # no page stored twice
        blobs = (await uow.session.scalars(select(InfoBlob.source_url).where(
            InfoBlob.tenant_id == tenant))).all()
    assert len(blobs) == len(set(blobs)) == len(site.pages())


async def test_a_crawl_longer_than_its_budget_requeues_itself(
        client: httpx.AsyncClient, make_user: Callable[..., Any], site: FakeSite, queues: Queues, crawl_queue: str,
        crawl_function: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    member = await make_user()
    website = await add_website(client, member, site)
    run = await _json(await client.post(f"/api/v1/websites/{website['id']}/run/", headers=member.headers), 202)
    # 120 s per invocation (the test's Lambda context) less a 118 s margin: about 2 s of crawling each time,
    # where the whole site takes about 5 s (robots.txt's Crawl-delay of 0.2 s per request, the slow page's 1 s).
    monkeypatch.setenv("CRAWL_BUDGET_MARGIN_SECONDS", "118")
    restore_settings()
    invocations = await run_queued(queues, crawl_queue, crawl_function)
    assert invocations >= 2
    done = await _json(await client.get(f"/api/v1/crawl-runs/{run['id']}/", headers=member.headers), 200)
    assert done["status"] == "complete" and set(await stored(member, website["id"])) == site.pages()
    fetched = [p for p in site.paths_requested() if p.startswith("/page/")]
    assert len(fetched) == len(set(fetched))  # a checkpoint loses nothing and repeats nothing


async def test_the_schedule_picks_due_websites_only(client: httpx.AsyncClient, make_user: Callable[..., Any],
                                                    site: FakeSite, queues: Queues, crawl_queue: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    member = await make_user()
    due = await add_website(client, member, site, update_interval="daily")
    later = await add_website(client, member, site, update_interval="weekly")
    never = await add_website(client, member, site)
    paused = await add_website(client, member, site, update_interval="daily")
    busy = await add_website(client, member, site, update_interval="daily")
    await _json(await client.post(f"/api/v1/websites/{busy['id']}/run/", headers=member.headers), 202)
    await _json(await client.patch(f"/api/v1/websites/{paused['id']}/", headers=member.headers,
                                   json={"paused": True}), 200)
    async with UnitOfWork(member.tenant_id) as uow:
        await uow.session.execute(update(Website).where(Website.id == uuid.UUID(later["id"]))
                                  .values(next_run_at=utcnow() + timedelta(days=3)))
    queues.receive(crawl_queue, expect=1, wait=2.0)  # the manual run's message, already handled elsewhere
    from eneo.core.settings import get_settings

    queued, rescued = await schedule_tenant(member.tenant_id, get_settings())
    assert (queued, rescued) == (1, 0)
    async with UnitOfWork(member.tenant_id) as uow:
        runs = (await uow.session.execute(select(CrawlRun.website_id, CrawlRun.trigger))).all()
    assert sorted((str(w), t) for w, t in runs) == sorted([(due["id"], "schedule"), (busy["id"], "manual")])
    assert never["next_run_at"] is None
    # The tenant's cap: with two runs active, a newly due website waits for the next pass.
    another = await add_website(client, member, site, update_interval="daily")
    assert await schedule_tenant(member.tenant_id, get_settings()) == (0, 0)
    async with UnitOfWork(member.tenant_id) as uow:
        assert not (await uow.session.scalars(select(CrawlRun).where(
            CrawlRun.website_id == uuid.UUID(another["id"])))).all()


# --- assistants ------------------------------------------------------------------------------------


async def test_an_assistant_answers_from_a_crawled_page_and_cites_its_url(
        client: httpx.AsyncClient, chat: Any, site: FakeSite, queues: Queues, crawl_queue: str,
        crawl_function: Any, functions: dict[str, Any], fake: Any, make_user: Callable[..., Any]) -> None:
    admin = chat.admin
    async with UnitOfWork(admin.tenant_id) as uow:
        await ensure_local_embedding_model(uow.session, admin.tenant_id)
    website = await _json(await client.post(f"/api/v1/spaces/{chat.space}/knowledge/websites/", headers=admin.headers,
                                            json={"url": site.root, "max_pages": 3}), 201)
    await _json(await client.post(f"/api/v1/websites/{website['id']}/run/", headers=admin.headers), 202)
    await run_queued(queues, crawl_queue, crawl_function)
    notices = pipeline.notifications(queues, expect=3)
    queues.delete_done(queues.ingest_url, notices, await invoke(functions["ingest"], queues.event(notices)))
    while messages := queues.receive(queues.embed_url, expect=1, wait=2.0):
        response = await invoke(functions["embed"], queues.event(messages, arn=EMBED_ARN))
        queues.delete_done(queues.embed_url, messages, response)

    assistant = await _json(await client.patch(f"/api/v1/assistants/{chat.assistant}/", headers=admin.headers,
                                               json={"websites": [website["id"]]}), 200)
    assert assistant["websites"] == [{"id": website["id"], "name": website["name"], "url": site.root}]
    assert assistant["groups"] == []
    asked = await _json(await client.post(f"/api/v1/assistants/{chat.assistant}/sessions/",
                                          headers=chat.viewer.headers,
                                          json={"question": "Hur ansöker jag om bygglov?"}), 201)
    system = fake.requests[-1].body["messages"][0]["content"]
    assert "Sidan 1 handlar om bygglov" in system
    references = asked["question"]["references"]
    assert references[0]["url"] == site.url("/page/1") and references[0]["title"].startswith("Sida 1")

    # A website's collection is not a collection: `groups` does not take it; another tenant's website is
    # unknown (422 naming the id, as for any unknown id).
    r = await client.patch(f"/api/v1/assistants/{chat.assistant}/", headers=admin.headers,
                           json={"groups": [str(uuid.uuid4())], "websites": []})
    assert r.status_code == 422
    from eneo.users.models import UserRole
    from tests.integration.conftest import Org
    from tests.integration.test_sessions import make_chat

    stranger = await make_user()
    theirs = await make_chat(client, stranger, await make_user(Org(stranger.tenant_id, ""), UserRole.user), fake)
    r = await client.patch(f"/api/v1/assistants/{theirs.assistant}/", headers=stranger.headers,
                           json={"websites": [website["id"]]})
    assert r.status_code == 422 and website["id"] in r.text, r.text


async def test_the_crawler_never_reaches_refused_addresses(client: httpx.AsyncClient, make_user: Callable[..., Any],
                                                          site: FakeSite, queues: Queues, crawl_queue: str,
                                                          crawl_function: Any, monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """Without the deployment's allowance, 127.0.0.1 is refused when saved, and at connect time for a website
    saved while it was allowed (the rule is checked again for every connection)."""
    member = await make_user()
    website = await add_website(client, member, site)
    monkeypatch.setenv("OUTBOUND_ALLOWED_HOSTS", "")
    restore_settings()
    space = website["space_id"]
    r = await client.post(f"/api/v1/spaces/{space}/knowledge/websites/", headers=member.headers,
                          json={"url": site.root})
    assert r.status_code == 422 and r.json()["code"] == "url_refused" and "loopback" in r.json()["message"]
    run = await _json(await client.post(f"/api/v1/websites/{website['id']}/run/", headers=member.headers), 202)
    await run_queued(queues, crawl_queue, crawl_function)
    failed = await _json(await client.get(f"/api/v1/crawl-runs/{run['id']}/", headers=member.headers), 200)
    assert failed["status"] == "failed" and failed["failures"] == {"address_refused": 1}, failed
    assert site.paths_requested() == []


async def test_the_schedule_requeues_a_run_nobody_works_on(client: httpx.AsyncClient, make_user: Callable[..., Any],
                                                          site: FakeSite, queues: Queues, crawl_queue: str,
                                                          crawl_function: Any) -> None:
    """A stack restart lost the run's message while its lease was running out: the next scheduler pass sends it
    again, and the crawl resumes and completes."""
    from eneo.core.settings import get_settings

    member = await make_user()
    website = await add_website(client, member, site)
    run = await _json(await client.post(f"/api/v1/websites/{website['id']}/run/", headers=member.headers), 202)
    queues.sqs.purge_queue(QueueUrl=crawl_queue)  # the message is lost
    assert await schedule_tenant(member.tenant_id, get_settings()) == (0, 0)  # not stale yet
    async with UnitOfWork(member.tenant_id) as uow:
        await uow.session.execute(update(CrawlRun).where(CrawlRun.id == uuid.UUID(run["id"])).values(
            status="running", lease_until=func.now() - timedelta(minutes=1),
            updated_at=func.now() - timedelta(minutes=11)))
    assert await schedule_tenant(member.tenant_id, get_settings()) == (0, 1)
    await run_queued(queues, crawl_queue, crawl_function)
    done = await _json(await client.get(f"/api/v1/crawl-runs/{run['id']}/", headers=member.headers), 200)
    assert done["status"] == "complete" and set(await stored(member, website["id"])) == site.pages()


async def test_a_page_whose_document_was_deleted_is_stored_again(
        client: httpx.AsyncClient, make_user: Callable[..., Any], site: FakeSite, queues: Queues, crawl_queue: str,
        crawl_function: Any) -> None:
    member = await make_user()
    website = await add_website(client, member, site, crawl_type="sitemap")
    await _json(await client.post(f"/api/v1/websites/{website['id']}/run/", headers=member.headers), 202)
    await run_queued(queues, crawl_queue, crawl_function)
    page = (await stored(member, website["id"]))[site.url("/page/3")]
    await _json(await client.delete(f"/api/v1/info-blobs/{page.info_blob_id}/", headers=member.headers), 204)
    again = await _json(await client.post(f"/api/v1/websites/{website['id']}/run/", headers=member.headers), 202)
    await run_queued(queues, crawl_queue, crawl_function)
    done = await _json(await client.get(f"/api/v1/crawl-runs/{again['id']}/", headers=member.headers), 200)
    assert (done["pages_fetched"], done["pages_unchanged"]) == (1, 12), done
    restored = (await stored(member, website["id"]))[site.url("/page/3")]
    assert restored.info_blob_id is not None and restored.info_blob_id != page.info_blob_id
