"""One crawl run, worked on by as many invocations of the crawl function as it takes.

Why it is shaped this way:
* The frontier is the checkpoint. Every URL of a run is a `crawl_urls` row (unique per run: a URL is
  fetched once per run however many pages link to it); a page's outcome, its document and the run's counts
  are written in one transaction, so an invocation killed at any point leaves either the page done or still
  pending, and the next invocation carries on from the pending ones. A page fetched twice because of a
  kill is harmless: its stored hash (or a 304) makes the second fetch a no-op.
* One invocation at a time per run: claiming a run takes a lease (`lease_until`) and bumps `invocations`,
  the run's generation; every later write of the invocation is conditional on that generation, so an
  invocation that lost its lease (it overran, a second message arrived) stops at its next write. One run at
  a time per website: a partial unique index (eneo.websites.models).
* Within its time budget: an invocation stops `crawl_budget_margin_seconds` before its deadline, gives the
  lease back and sends the run's message to the crawl queue again. If it dies instead, SQS delivers the
  message again after its visibility timeout (the lease has expired by then), and the scheduler re-queues
  runs whose lease expired with no invocation on them (a stack restart).
* Pages are documents of the website's collection, stored in S3 like uploads, so the same ingest -> embed
  pipeline handles them; a page whose extracted text hashes as before is not stored or embedded again.
* Deletion only after a complete run: pages not seen by a run that tried every URL of its frontier are
  removed (404/410 pages too); a page that failed this time is kept; a failed run (the site down) removes
  nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from eneo.core import storage
from eneo.core.crypto import DecryptionError
from eneo.core.db import UnitOfWork
from eneo.core.ids import new_id, utcnow
from eneo.core.settings import Settings, get_settings
from eneo.crawler.extract import parse_html, sitemap_urls
from eneo.crawler.fetch import Fetched, Fetcher, Politeness
from eneo.crawler.robots import Robots
from eneo.crawler.urls import canonical, is_file, same_site
from eneo.knowledge.limits import accepted_for
from eneo.knowledge.models import Chunk, Group, InfoBlob, InfoBlobStatus
from eneo.knowledge.status_events import publish_status
from eneo.websites.events import publish_run
from eneo.websites.models import CrawlRun, CrawlUrl, RunStatus, Website, WebsitePage
from eneo.websites.service import auth_of, crawl_message, next_scheduled

log = logging.getLogger("eneo.websites.crawl")

BATCH = 8  # frontier URLs read per query
MAX_FAILURES = 10  # failed runs in a row before a website is paused
MAX_INVOCATIONS = 500  # about 14 h of crawling at 100 s an invocation
BACKOFF_FIRST, BACKOFF_MAX = timedelta(hours=1), timedelta(hours=24)
HTML = ("text/html", "application/xhtml+xml")


@dataclass
class Outcome:
    """What an invocation did with a run: `finished`, `requeued`, `busy` (another holds it) or `gone`."""

    result: str
    status: str | None = None


class LeaseLost(Exception):
    """The run is no longer this invocation's (another took it over, or it was deleted)."""


def backoff(failures: int) -> timedelta:
    """1 h after the first failed run in a row, doubling, at most 24 h."""
    return min(BACKOFF_FIRST * (2 ** max(failures - 1, 0)), BACKOFF_MAX)


async def crawl(tenant_id: uuid.UUID, run_id: uuid.UUID, *, deadline: float, settings: Settings | None = None,
                transport: Any = None) -> Outcome:
    """Work on the run until its frontier is empty (then finish it) or the time budget is spent (then
    re-queue it). `deadline` is a time.monotonic() value (eneo.core.aio.deadline)."""
    settings = settings or get_settings()
    lease = timedelta(seconds=max(deadline - time.monotonic(), 1.0) + 5.0)
    async with UnitOfWork(tenant_id) as uow:
        run = (await uow.session.execute(
            update(CrawlRun).where(
                CrawlRun.id == run_id, CrawlRun.tenant_id == tenant_id,
                CrawlRun.status.in_([RunStatus.queued.value, RunStatus.running.value]),
                (CrawlRun.lease_until.is_(None)) | (CrawlRun.lease_until < func.now()))
            .values(status=RunStatus.running.value, lease_until=func.now() + lease,
                    invocations=CrawlRun.invocations + 1,
                    started_at=func.coalesce(CrawlRun.started_at, func.now()), updated_at=utcnow())
            .returning(CrawlRun).execution_options(populate_existing=True))).scalar_one_or_none()
        if run is None:
            exists = await uow.session.scalar(select(CrawlRun.status).where(CrawlRun.id == run_id))
            return Outcome("busy" if exists in (RunStatus.queued, RunStatus.running) else "gone", exists)
        website = await uow.session.get_one(Website, run.website_id)
        group = await uow.session.get_one(Group, website.group_id)
        await uow.commit()
        worker = _Run(uow, settings, run, website, group)
        if run.invocations > MAX_INVOCATIONS:  # a crawl that keeps dying is not re-queued for ever
            await worker.finish(failed=f"The crawl did not finish in {MAX_INVOCATIONS} invocations")
            return Outcome("finished", RunStatus.failed.value)
        try:
            auth = auth_of(website)
        except DecryptionError:
            await worker.finish(failed="The stored basic-auth password cannot be read (was ENCRYPTION_KEY "
                                       "changed?); enter it again")
            return Outcome("finished", RunStatus.failed.value)
        fetcher = Fetcher(website.url, settings.crawl_user_agent, settings.crawl_timeout_seconds,
                          settings.crawl_page_max_bytes, settings.crawl_max_redirects, auth, transport)
        worker.fetcher = fetcher
        try:
            return await worker.work(deadline - settings.crawl_budget_margin_seconds)
        except LeaseLost:
            log.info("crawl lease lost", extra={"run_id": str(run_id)})
            return Outcome("busy")
        finally:
            await fetcher.aclose()


class _Run:
    """One invocation's work on a run (the run row as claimed; `generation` = its `invocations`)."""

    fetcher: Fetcher

    def __init__(self, uow: UnitOfWork, settings: Settings, run: CrawlRun, website: Website, group: Group) -> None:
        self.uow, self.settings, self.run, self.website, self.group = uow, settings, run, website, group
        self.generation = run.invocations
        self.politeness = Politeness(settings.crawl_delay_seconds)
        self.robots = Robots.allow_all(settings.crawl_user_agent)
        self.owner = run.started_by or website.created_by

    # --- the loop ---

    async def work(self, stop_at: float) -> Outcome:
        self.robots = await self._robots()
        self.politeness.slow_down(self.robots.crawl_delay())
        if (self.run.invocations == 1 and not await self._has_frontier()
                and (why := await self._seed()) is not None):
            await self.finish(failed=why)
            return Outcome("finished", RunStatus.failed.value)
        while True:
            if time.monotonic() >= stop_at:
                await self._requeue()
                return Outcome("requeued", RunStatus.running.value)
            batch = (await self.uow.session.execute(
                select(CrawlUrl.id, CrawlUrl.url, CrawlUrl.depth).where(
                    CrawlUrl.run_id == self.run.id, CrawlUrl.state == "pending").order_by(CrawlUrl.id).limit(BATCH)
            )).all()
            await self.uow.commit()
            if not batch:
                status = await self.finish()
                return Outcome("finished", status)
            for row_id, url, depth in batch:
                if time.monotonic() >= stop_at:
                    break
                await self._visit(row_id, url, depth)
            await self._progress()

    async def _robots(self) -> Robots:
        agent = self.settings.crawl_user_agent
        root = urlsplit(self.website.url)
        fetched = await self.fetcher.get(f"{root.scheme}://{root.netloc}/robots.txt")
        if fetched.status == 200:
            return Robots.parse(fetched.body.decode("utf-8", "replace"), agent)
        if fetched.status in (401, 403):
            return Robots.deny_all(agent)
        return Robots.allow_all(agent)

    async def _has_frontier(self) -> bool:
        found = await self.uow.session.scalar(select(func.count()).select_from(CrawlUrl).where(
            CrawlUrl.run_id == self.run.id))
        await self.uow.commit()
        return bool(found)

    async def _seed(self) -> str | None:
        """The first URLs: the start URL (crawl), or the sitemap's pages. A reason if the site cannot be read."""
        start = canonical(self.website.url)
        if start is None:
            return "The website's URL cannot be crawled"
        if self.website.crawl_type == "crawl":
            await self._add([start], 0)
            return None
        root = urlsplit(start)
        sitemaps = [start] if root.path.lower().endswith(".xml") else (
            self.robots.sitemaps() or [f"{root.scheme}://{root.netloc}/sitemap.xml"])
        pages: list[str] = []
        for level in range(2):  # a sitemap index, and the sitemaps it names
            nested: list[str] = []
            for sitemap in sitemaps[:50]:
                await self.politeness.wait(urlsplit(sitemap).netloc)
                fetched = await self.fetcher.get(sitemap)
                if fetched.status != 200:
                    if level == 0:
                        return f"The sitemap could not be read ({fetched.reason or fetched.status})"
                    continue
                found, more = sitemap_urls(fetched.body)
                pages += found
                nested += more
            sitemaps = nested
        urls = [u for p in pages if (u := canonical(p)) is not None]
        if not urls:
            return "The sitemap lists no pages"
        await self._add(urls, 0)
        return None

    async def _add(self, urls: list[str], depth: int) -> None:
        """Same-site URLs robots.txt allows go into the frontier (once per run), up to the website's max_pages."""
        wanted = [u for u in dict.fromkeys(urls) if same_site(u, self.website.url) and self.robots.allowed(u)
                  and (self.website.download_files or not is_file(u))]
        if not wanted:
            return
        room = self.website.max_pages - (await self.uow.session.scalar(
            select(func.count()).select_from(CrawlUrl).where(CrawlUrl.run_id == self.run.id)) or 0)
        if room <= 0:
            return
        known = set((await self.uow.session.scalars(select(CrawlUrl.url).where(
            CrawlUrl.run_id == self.run.id, CrawlUrl.url.in_(wanted)))).all())
        new = [u for u in wanted if u not in known][:room]
        if new:
            await self.uow.session.execute(insert(CrawlUrl).values([
                {"tenant_id": self.run.tenant_id, "run_id": self.run.id, "url": u, "depth": depth, "state": "pending"}
                for u in new]).on_conflict_do_nothing())
        await self._bump(pages_found=select(func.count()).select_from(CrawlUrl).where(
            CrawlUrl.run_id == self.run.id).scalar_subquery())

    async def _bump(self, **values: Any) -> None:
        """Change the run's counters, if the run is still this invocation's (LeaseLost otherwise)."""
        changed = (await self.uow.session.execute(
            update(CrawlRun).where(CrawlRun.id == self.run.id, CrawlRun.invocations == self.generation,
                                   CrawlRun.status == RunStatus.running.value)
            .values(updated_at=utcnow(), **{k: getattr(CrawlRun, k) + v if isinstance(v, int) else v
                                            for k, v in values.items()})
            .returning(CrawlRun.id))).first()
        if changed is None:
            await self.uow.rollback()
            raise LeaseLost()

    async def _mark(self, row_id: int, state: str, reason: str | None = None) -> None:
        await self.uow.session.execute(update(CrawlUrl).where(CrawlUrl.id == row_id)
                                       .values(state=state, reason=reason))

    async def _fail(self, row_id: int, url: str, reason: str) -> None:
        await self._mark(row_id, "failed", reason)
        await self.uow.session.execute(update(WebsitePage).where(
            WebsitePage.website_id == self.website.id, WebsitePage.url == url).values(seen_run_id=self.run.id))
        await self._bump(pages_failed=1, failures=CrawlRun.failures.op("||")(
            func.jsonb_build_object(reason, func.coalesce(CrawlRun.failures[reason].as_integer(), 0) + 1)))
        await self.uow.commit()

    # --- one URL ---

    async def _visit(self, row_id: int, url: str, depth: int) -> None:
        found = (await self.uow.session.execute(
            select(WebsitePage, InfoBlob.status).outerjoin(InfoBlob, InfoBlob.id == WebsitePage.info_blob_id)
            .where(WebsitePage.website_id == self.website.id, WebsitePage.url == url))).first()
        await self.uow.commit()
        page, status = (found[0], found[1]) if found is not None else (None, None)
        # Conditional only for a page whose document is there and did not fail: otherwise it is fetched and
        # stored again (a user deleted the document, or its ingestion failed).
        usable = page is not None and status is not None and status != InfoBlobStatus.failed
        await self.politeness.wait(urlsplit(url).netloc)
        fetched = await self.fetcher.get(url, etag=page.etag if page and usable else None,
                                         last_modified=page.last_modified if page and usable else None)
        if fetched.status == 304 and page is not None:
            await self._follow(page.links, depth)
            await self._unchanged(row_id, page, fetched)
            return
        if fetched.reason == "gone":
            await self._mark(row_id, "gone", "gone")
            await self._bump()
            await self.uow.commit()
            return
        if fetched.reason is not None or fetched.status != 200:
            await self._fail(row_id, url, fetched.reason or f"http_{fetched.status}")
            return
        key = fetched.url
        if key != url and not await self._claim_alias(key):
            await self._mark(row_id, "done", "duplicate")
            await self._bump()
            await self.uow.commit()
            return
        if fetched.content_type in HTML or (not fetched.content_type and fetched.body.lstrip()[:1] == b"<"):
            await self._html(row_id, key, depth, fetched, page if key == url else None)
        else:
            await self._file(row_id, key, fetched, page if key == url else None)

    async def _claim_alias(self, url: str) -> bool:
        """Record `url` (where a redirect or a canonical link led) as done in this run; False if the run has it
        already (then this page is a duplicate of one fetched or queued: it is not stored twice)."""
        done = (await self.uow.session.execute(insert(CrawlUrl).values(
            tenant_id=self.run.tenant_id, run_id=self.run.id, url=url, depth=0, state="done")
            .on_conflict_do_nothing().returning(CrawlUrl.id))).first()
        return done is not None

    async def _html(self, row_id: int, url: str, depth: int, fetched: Fetched, page: WebsitePage | None) -> None:
        parsed = await asyncio.to_thread(parse_html, fetched.body, url, fetched.charset)
        if parsed.canonical and parsed.canonical != url and same_site(parsed.canonical, self.website.url):
            if not await self._claim_alias(parsed.canonical):
                await self._mark(row_id, "done", "duplicate")
                await self._bump()
                await self.uow.commit()
                return
            url, page = parsed.canonical, await self.uow.session.scalar(select(WebsitePage).where(
                WebsitePage.website_id == self.website.id, WebsitePage.url == parsed.canonical))
        links = [] if parsed.nofollow else parsed.links
        await self._follow(links, depth)
        if parsed.noindex:
            await self._mark(row_id, "done", "noindex")
            await self._bump()
            await self.uow.commit()
            return
        if not parsed.text:
            await self._fail(row_id, url, "no_text")
            return
        title = parsed.title or url
        data = (f"# {title}\n\n{parsed.text}\n").encode()
        await self._store(row_id, url, page, fetched, data, "text/markdown", _filename(url, ".md"), title, links)

    async def _follow(self, links: list[str], depth: int) -> None:
        if self.website.crawl_type == "crawl" and depth < self.website.max_depth:
            await self._add(links, depth + 1)

    async def _file(self, row_id: int, url: str, fetched: Fetched, page: WebsitePage | None) -> None:
        filename = _filename(url, "")
        accepted = accepted_for(fetched.content_type or None, filename) if self.website.download_files else None
        if accepted is None or (accepted.family == "text" and fetched.content_type not in ("text/plain",
                                                                                           "text/markdown",
                                                                                           "text/csv")):
            await self._mark(row_id, "done", "not_a_page")
            await self._bump()
            await self.uow.commit()
            return
        await self._store(row_id, url, page, fetched, fetched.body, accepted.media_type, filename,
                          urlsplit(url).path.rsplit("/", 1)[-1] or url)

    async def _unchanged(self, row_id: int, page: WebsitePage, fetched: Fetched) -> None:
        await self._mark(row_id, "done", "unchanged")
        page.seen_run_id = self.run.id
        page.etag = fetched.headers.get("etag", page.etag)
        page.last_modified = fetched.headers.get("last-modified", page.last_modified)
        await self._bump(pages_unchanged=1)
        await self.uow.commit()

    async def _store(self, row_id: int, url: str, page: WebsitePage | None, fetched: Fetched, data: bytes,
                     media_type: str, filename: str, title: str, links: list[str] | None = None) -> None:
        """The page's document, new or started over with the new bytes; unchanged when the hash is the same."""
        session = self.uow.session
        digest = hashlib.sha256(data).hexdigest()
        etag, modified = fetched.headers.get("etag"), fetched.headers.get("last-modified")
        if page is None:
            page = WebsitePage(id=new_id(), tenant_id=self.run.tenant_id, website_id=self.website.id, url=url)
            session.add(page)
        page.etag, page.last_modified, page.seen_run_id, page.title = etag, modified, self.run.id, title[:500]
        page.links = links or []
        blob = await session.get(InfoBlob, page.info_blob_id) if page.info_blob_id else None
        if blob is not None and page.content_hash == digest and blob.status != InfoBlobStatus.failed:
            await self._mark(row_id, "done", "unchanged")
            await self._bump(pages_unchanged=1)
            await session.commit()
            return
        if blob is None:
            blob_id = new_id()
            blob = InfoBlob(id=blob_id, tenant_id=self.run.tenant_id, group_id=self.group.id, uploaded_by=self.owner,
                            title=title[:500], filename=filename, declared_type=media_type,
                            object_key=storage.object_key(self.run.tenant_id, self.group.id, blob_id),
                            chunks_total=0, chunks_embedded=0, attempts=0, source_url=url)
            session.add(blob)
        else:  # started over: no chunks, no progress (as a retry does, eneo.knowledge.service._start_over)
            await session.execute(delete(Chunk).where(Chunk.info_blob_id == blob.id,
                                                      Chunk.tenant_id == blob.tenant_id))
            blob.chunks_total = blob.chunks_embedded = 0
            blob.error_code = blob.error_message = blob.processed_at = blob.embedding_model_id = None
            blob.title = title[:500]
        blob.status, blob.content_type, blob.size_bytes = InfoBlobStatus.queued, media_type, len(data)
        blob.content_hash = digest
        try:
            await session.flush()
        except IntegrityError:  # another page of the site has exactly this content: stored once
            await session.rollback()
            await self._mark(row_id, "done", "duplicate")
            await self._bump()
            await session.commit()
            return
        page.info_blob_id, page.content_hash = blob.id, digest
        await self._mark(row_id, "done")
        await self._bump(pages_fetched=1)
        key = blob.object_key
        await session.commit()
        try:  # after the commit: the object's S3 event starts ingestion, which must find the row
            await asyncio.to_thread(storage.put_object, key, data, media_type, settings=self.settings)
        except Exception as exc:
            log.error("page not stored", extra={"object_key": key, "error": type(exc).__name__})
            blob.status, blob.error_code = InfoBlobStatus.failed, "storage_unavailable"
            blob.error_message = "The page could not be stored; the next crawl tries again"
            page.content_hash = None
            await session.commit()
            return
        await publish_status(blob)

    # --- the end of a run ---

    async def _requeue(self) -> None:
        """Give the lease back and put the run's message on the crawl queue again (the next invocation resumes)."""
        await self._bump(lease_until=None)
        await self.uow.commit()
        try:
            await asyncio.to_thread(storage.send_messages, self.settings.crawl_queue_url,
                                    [crawl_message(self.run)], settings=self.settings)
        except Exception as exc:  # the scheduler re-queues a run with no lease and no invocation
            log.error("crawl not re-queued", extra={"run_id": str(self.run.id), "error": type(exc).__name__})
        log.info("crawl checkpointed", extra={"run_id": str(self.run.id)})

    async def finish(self, failed: str | None = None) -> str:
        """Complete the run (removing the pages it did not see) or fail it (removing nothing); schedule the
        website's next run, backing off and pausing after repeated failures."""
        session, website, now = self.uow.session, self.website, utcnow()
        run = await session.scalar(select(CrawlRun).where(CrawlRun.id == self.run.id).with_for_update())
        if run is None or run.invocations != self.generation or run.status != RunStatus.running.value:
            raise LeaseLost()
        if failed is None and run.pages_fetched + run.pages_unchanged == 0 and run.pages_failed > 0:
            reasons = ", ".join(sorted(run.failures))
            failed = f"No page of the site could be fetched ({reasons})"
        removed_keys: list[str] = []
        if failed is None:
            kept = select(CrawlUrl.url).where(CrawlUrl.run_id == run.id, CrawlUrl.state == "failed")
            gone = (await session.execute(select(WebsitePage.id, WebsitePage.info_blob_id).where(
                WebsitePage.website_id == website.id,
                (WebsitePage.seen_run_id.is_(None)) | (WebsitePage.seen_run_id != run.id),
                WebsitePage.url.not_in(kept)))).all()
            blob_ids = [b for _, b in gone if b is not None]
            if blob_ids:
                removed_keys = list((await session.scalars(
                    delete(InfoBlob).where(InfoBlob.id.in_(blob_ids), InfoBlob.tenant_id == run.tenant_id)
                    .returning(InfoBlob.object_key))).all())
            if gone:
                await session.execute(delete(WebsitePage).where(WebsitePage.id.in_([p for p, _ in gone])))
            run.pages_removed = len(gone)
        await session.execute(delete(CrawlUrl).where(CrawlUrl.run_id == run.id))
        run.status = RunStatus.failed.value if failed else RunStatus.complete.value
        run.error, run.finished_at, run.lease_until = (failed[:500] if failed else None), now, None
        site = await session.scalar(select(Website).where(Website.id == website.id).with_for_update())
        if site is not None:
            site.last_run_at = now
            if failed:
                site.consecutive_failures += 1
                if site.consecutive_failures >= MAX_FAILURES:
                    site.paused_reason = (f"Paused after {site.consecutive_failures} failed crawls in a row; the "
                                          f"last: {failed}")[:500]
                    site.next_run_at = None
                elif site.update_interval != "never":
                    site.next_run_at = _min(now + backoff(site.consecutive_failures),
                                            next_scheduled(site.update_interval, now))
            else:
                site.consecutive_failures = 0
                site.next_run_at = next_scheduled(site.update_interval, now)
        await session.commit()
        for key in removed_keys:
            try:
                await asyncio.to_thread(storage.delete_object, key, settings=self.settings)
            except Exception as exc:
                log.warning("removed page's object not deleted", extra={"object_key": key,
                                                                       "error": type(exc).__name__})
        self.run = run
        await self._progress()
        log.info("crawl finished", extra={"run_id": str(run.id), "status": run.status, "found": run.pages_found,
                                          "fetched": run.pages_fetched, "unchanged": run.pages_unchanged,
                                          "failed": run.pages_failed, "removed": run.pages_removed})
        return run.status

    async def _progress(self) -> None:
        run = await self.uow.session.get(CrawlRun, self.run.id, populate_existing=True)
        await self.uow.commit()
        if run is not None and self.owner is not None:
            await publish_run(self.owner, run)


def _min(a: datetime, b: datetime | None) -> datetime:
    return a if b is None else min(a, b)


def _filename(url: str, suffix: str) -> str:
    """A file name for the page's document: the URL's last path segment (or the host), with `suffix`."""
    parts = urlsplit(url)
    name = parts.path.rstrip("/").rsplit("/", 1)[-1] or parts.hostname or "page"
    if suffix and not name.lower().endswith(suffix):
        name += suffix
    return name[-255:]
