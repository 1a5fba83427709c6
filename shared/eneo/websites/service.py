"""Website use cases: websites in spaces (CRUD), their runs (start one, list, read), and assistants' websites.

Decisions (and why):
* A website's pages are documents of a collection of its own (`groups.kind = 'website'`, made and deleted
  with the website): they go through the same ingest -> embed pipeline as uploads, and retrieval, citations
  and an assistant's knowledge work on them unchanged. The collection routes do not show that collection.
* Access follows the space, as for collections: members read a website, its runs and search it; editors and
  admins of the space (and tenant admins who are members) change it and start runs. Everyone else, and every
  other tenant, gets 404.
* The URL is checked against the outbound rule when saved (eneo.core.outbound: loopback, link-local and
  private addresses are refused unless OUTBOUND_ALLOWED_HOSTS allows them); the crawler checks every
  connection again (DNS may change, a site may redirect).
* The basic-auth password is encrypted like a provider's API key (eneo.core.crypto, bound to the website's
  row), and never returned.
* One run at a time per website (a partial unique index): a second start is 409 `crawl_running`.
"""

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from eneo.auth.principal import Principal
from eneo.core import storage
from eneo.core.crypto import aad_for, decrypt_secret, encrypt_secret
from eneo.core.db import UnitOfWork
from eneo.core.errors import AppError, Conflict, NotFound, ValidationFailed
from eneo.core.ids import new_id, utcnow
from eneo.core.outbound import check_url
from eneo.core.pagination import paginate
from eneo.core.settings import Settings
from eneo.knowledge.models import Group, InfoBlob, InfoBlobStatus
from eneo.knowledge.service.access import require_role, space_role  # access follows the space, as for collections
from eneo.knowledge.service.collections import usable_model_id
from eneo.spaces.access import SpaceAccess
from eneo.spaces.policy import SpaceAction
from eneo.websites.models import ACTIVE, INTERVAL_DAYS, CrawlRun, RunStatus, UpdateInterval, Website
from eneo.websites.schemas import CrawlRunOut, WebsiteCreate, WebsiteOut, WebsiteUpdate

log = logging.getLogger(__name__)

WEBSITE_KIND = "website"


class QueueUnavailable(AppError):
    status, code = 503, "queue_unavailable"


def _invalid(field: str, message: str, code: str = "validation_error") -> ValidationFailed:
    return ValidationFailed(f"Invalid request: {field}: {message}", code=code,
                            details=[{"field": field, "message": message, "type": code}])


def password_aad(website: Website) -> bytes:
    return aad_for(website.tenant_id, website.id, "basic-auth")


def auth_of(website: Website) -> tuple[str, str] | None:
    """The basic-auth credentials to send to this website's host, decrypted; None without them."""
    if not website.auth_username or website.auth_password_encrypted is None:
        return None
    return website.auth_username, decrypt_secret(website.auth_password_encrypted, password_aad(website))


# --- look-ups with access checks -------------------------------------------------------------------


async def _website(uow: UnitOfWork, p: Principal, website_id: uuid.UUID, action: SpaceAction, *,
                   lock: bool = False) -> tuple[Website, Group]:
    query = (select(Website, Group, SpaceAccess.role).join(Group, Group.id == Website.group_id)
             .join(SpaceAccess, and_(SpaceAccess.space_id == Website.space_id, SpaceAccess.user_id == p.user_id))
             .where(Website.id == website_id, Website.tenant_id == p.tenant_id))
    row = (await uow.session.execute(query.with_for_update(of=Website) if lock else query)).first()
    if row is None:
        raise NotFound("Website")
    require_role(p, row[2], action)
    return row[0], row[1]


async def _outs(session: AsyncSession, rows: list[tuple[Website, Group]]) -> list[WebsiteOut]:
    counts: dict[uuid.UUID, tuple[int, int]] = {}
    if rows:
        found = await session.execute(
            select(InfoBlob.group_id, func.count(), func.count().filter(InfoBlob.status == InfoBlobStatus.ready))
            .where(InfoBlob.group_id.in_([g.id for _, g in rows]), InfoBlob.tenant_id == rows[0][0].tenant_id)
            .group_by(InfoBlob.group_id))
        counts = {r[0]: (r[1], r[2]) for r in found}
    out = []
    for w, g in rows:
        total, ready = counts.get(g.id, (0, 0))
        out.append(WebsiteOut(
            id=w.id, space_id=w.space_id, name=g.name, url=w.url, crawl_type=w.crawl_type,
            update_interval=w.update_interval,
            max_pages=w.max_pages, max_depth=w.max_depth, download_files=w.download_files,
            auth_username=w.auth_username, has_auth_password=w.auth_password_encrypted is not None,
            embedding_model_id=g.embedding_model_id, pages=total, pages_ready=ready,
            paused=w.paused_reason is not None, paused_reason=w.paused_reason,
            consecutive_failures=w.consecutive_failures, next_run_at=w.next_run_at, last_run_at=w.last_run_at,
            created_by=w.created_by, created_at=w.created_at, updated_at=w.updated_at))
    return out


async def _checked_url(url: str) -> str:
    if (why := await check_url(url)) is not None:
        raise _invalid("url", f"this address may not be crawled: {why}", code="url_refused")
    return url


def _default_name(url: str) -> str:
    parts = urlsplit(url)
    return ((parts.hostname or "") + parts.path.rstrip("/"))[:200] or url[:200]


def next_scheduled(interval: str, after: Any) -> Any:
    """When a website with this interval is due after a run at `after` (None: not scheduled)."""
    days = INTERVAL_DAYS.get(UpdateInterval(interval))
    return None if days is None else after + timedelta(days=days)


# --- websites --------------------------------------------------------------------------------------


async def create_website(uow: UnitOfWork, p: Principal, space_id: uuid.UUID, data: WebsiteCreate) -> WebsiteOut:
    """The website and its collection; scheduled websites are due at once (the next scheduler pass)."""
    require_role(p, await space_role(uow, p, space_id), SpaceAction.edit_content)
    if (data.auth_username is None) != (data.auth_password is None):
        raise _invalid("auth_password", "auth_username and auth_password go together")
    model_id = await usable_model_id(uow, p, space_id, data.embedding_model_id)  # no lookup of the host first
    url = await _checked_url(data.url)
    group = Group(id=new_id(), tenant_id=p.tenant_id, space_id=space_id, name=data.name or _default_name(url),
                  description="", embedding_model_id=model_id, created_by=p.user_id, kind=WEBSITE_KIND)
    website = Website(id=new_id(), tenant_id=p.tenant_id, space_id=space_id, group_id=group.id, url=url,
                      crawl_type=data.crawl_type.value, update_interval=data.update_interval.value,
                      max_pages=data.max_pages, max_depth=data.max_depth, download_files=data.download_files,
                      auth_username=data.auth_username, consecutive_failures=0, created_by=p.user_id,
                      next_run_at=None if data.update_interval == UpdateInterval.never else utcnow())
    if data.auth_password is not None:
        website.auth_password_encrypted = encrypt_secret(data.auth_password.get_secret_value(),
                                                         password_aad(website))
    uow.session.add(group)
    await uow.session.flush()
    uow.session.add(website)
    await uow.session.flush()
    out = (await _outs(uow.session, [(website, group)]))[0]
    await uow.commit()
    return out


async def list_websites(uow: UnitOfWork, p: Principal, space_id: uuid.UUID, *, limit: int, cursor: str | None
                        ) -> tuple[list[WebsiteOut], str | None]:
    require_role(p, await space_role(uow, p, space_id), SpaceAction.read)
    websites, next_cursor = await paginate(uow.session, select(Website).where(
        Website.space_id == space_id, Website.tenant_id == p.tenant_id), Website, limit=limit, cursor=cursor)
    groups = {g.id: g for g in (await uow.session.scalars(select(Group).where(
        Group.id.in_([w.group_id for w in websites]), Group.tenant_id == p.tenant_id))).all()}
    return await _outs(uow.session, [(w, groups[w.group_id]) for w in websites]), next_cursor


async def get_website(uow: UnitOfWork, p: Principal, website_id: uuid.UUID) -> WebsiteOut:
    return (await _outs(uow.session, [await _website(uow, p, website_id, SpaceAction.read)]))[0]


async def update_website(uow: UnitOfWork, p: Principal, website_id: uuid.UUID, data: WebsiteUpdate) -> WebsiteOut:
    website, group = await _website(uow, p, website_id, SpaceAction.edit_content, lock=True)
    fields = data.model_fields_set
    if data.url is not None and data.url != website.url:
        website.url = await _checked_url(data.url)
    if data.name is not None:
        group.name = data.name
    for name in ("max_pages", "max_depth", "download_files"):
        if (value := getattr(data, name)) is not None:
            setattr(website, name, value)
    if data.crawl_type is not None:
        website.crawl_type = data.crawl_type.value
    if data.update_interval is not None and data.update_interval.value != website.update_interval:
        website.update_interval = data.update_interval.value
        website.next_run_at = next_scheduled(website.update_interval, website.last_run_at or utcnow()) \
            if website.last_run_at else (None if data.update_interval == UpdateInterval.never else utcnow())
    if "auth_username" in fields or "auth_password" in fields:
        if (data.auth_username is None) != (data.auth_password is None):
            raise _invalid("auth_password", "auth_username and auth_password go together (both null removes them)")
        website.auth_username = data.auth_username
        website.auth_password_encrypted = None if data.auth_password is None else encrypt_secret(
            data.auth_password.get_secret_value(), password_aad(website))
    if data.paused is False and website.paused_reason is not None:
        website.paused_reason, website.consecutive_failures = None, 0
        if website.update_interval != UpdateInterval.never.value:
            website.next_run_at = utcnow()
    elif data.paused is True and website.paused_reason is None:
        website.paused_reason = "Paused by a user"
    await uow.session.flush()
    out = (await _outs(uow.session, [(website, group)]))[0]
    await uow.commit()
    return out


async def delete_website(uow: UnitOfWork, p: Principal, website_id: uuid.UUID) -> None:
    """The website, its runs, pages, documents, chunks and vectors (its collection, by cascade); then its
    objects in storage. A crawl still running finds its run gone at its next write and stops."""
    _, group = await _website(uow, p, website_id, SpaceAction.edit_content)
    prefix = storage.group_prefix(group.tenant_id, group.id)
    await uow.session.delete(group)  # the website goes with it (ON DELETE CASCADE)
    await uow.commit()
    await asyncio.to_thread(storage.delete_prefix, prefix)


async def search_target(uow: UnitOfWork, p: Principal, website_id: uuid.UUID) -> uuid.UUID:
    """The collection to search for a member of the website's space (404 otherwise)."""
    _, group = await _website(uow, p, website_id, SpaceAction.read)
    return group.id


# --- runs ------------------------------------------------------------------------------------------


def run_out(run: CrawlRun) -> CrawlRunOut:
    return CrawlRunOut.model_validate(run, from_attributes=True)


def crawl_message(run: CrawlRun) -> dict[str, Any]:
    """The crawl queue's message for a run (eneo.websites.crawl reads it)."""
    return {"crawl": {"tenant_id": str(run.tenant_id), "run_id": str(run.id)}}


async def start_run(uow: UnitOfWork, p: Principal, website_id: uuid.UUID, settings: Settings) -> CrawlRunOut:
    """A queued run and its message on the crawl queue. 409 `crawl_running` while one is queued or running."""
    website, _ = await _website(uow, p, website_id, SpaceAction.edit_content, lock=True)
    run = CrawlRun(id=new_id(), tenant_id=p.tenant_id, website_id=website.id, status=RunStatus.queued.value,
                   trigger="manual", started_by=p.user_id, failures={})
    uow.session.add(run)
    try:
        await uow.session.flush()
    except IntegrityError:
        await uow.rollback()
        raise Conflict("A crawl of this website is already queued or running; wait for it to finish "
                       "(GET /api/v1/websites/{id}/runs/)", code="crawl_running") from None
    out = run_out(run)
    await uow.commit()
    await queue_runs(uow, [run], settings)
    return out


async def queue_runs(uow: UnitOfWork, runs: list[CrawlRun], settings: Settings) -> None:
    """Send the runs' messages; a run whose message could not be sent is failed (so the website is free)."""
    try:
        await asyncio.to_thread(storage.send_messages, settings.crawl_queue_url,
                                [crawl_message(r) for r in runs], settings=settings)
    except Exception as exc:
        log.error("crawl not queued", extra={"runs": len(runs), "error": type(exc).__name__})
        for run in runs:
            run.status, run.error, run.finished_at = RunStatus.failed.value, "The crawl could not be queued", utcnow()
        await uow.commit()
        raise QueueUnavailable("The crawl could not be queued; try again") from None


async def list_runs(uow: UnitOfWork, p: Principal, website_id: uuid.UUID, *, limit: int, cursor: str | None
                    ) -> tuple[list[CrawlRunOut], str | None]:
    website, _ = await _website(uow, p, website_id, SpaceAction.read)
    rows, next_cursor = await paginate(uow.session, select(CrawlRun).where(
        CrawlRun.website_id == website.id, CrawlRun.tenant_id == p.tenant_id), CrawlRun, limit=limit, cursor=cursor)
    return [run_out(r) for r in rows], next_cursor


async def get_run(uow: UnitOfWork, p: Principal, run_id: uuid.UUID) -> CrawlRunOut:
    run = await uow.session.scalar(select(CrawlRun).where(CrawlRun.id == run_id, CrawlRun.tenant_id == p.tenant_id))
    if run is None:
        raise NotFound("Crawl run")
    try:
        await _website(uow, p, run.website_id, SpaceAction.read)
    except NotFound:
        raise NotFound("Crawl run") from None
    return run_out(run)


def is_active(run: CrawlRun) -> bool:
    return run.status in ACTIVE


# --- assistants' websites --------------------------------------------------------------------------


async def website_groups(session: AsyncSession, p: Principal, space_id: uuid.UUID, website_ids: list[uuid.UUID]
                         ) -> list[uuid.UUID]:
    """The collections of these websites, if each is a website of `space_id` the caller reads (422 otherwise,
    the same for an unknown id and another tenant's: existence never leaks)."""
    ids = list(dict.fromkeys(website_ids))
    if not ids:
        return []
    rows = dict((await session.execute(
        select(Website.id, Website.group_id).join(SpaceAccess, and_(SpaceAccess.space_id == Website.space_id,
                                                                   SpaceAccess.user_id == p.user_id))
        .where(Website.id.in_(ids), Website.tenant_id == p.tenant_id, Website.space_id == space_id))).all())
    for website_id in ids:
        if website_id not in rows:
            raise _invalid("websites", f"no website with id {website_id} in the assistant's space")
    return [rows[w] for w in ids]
