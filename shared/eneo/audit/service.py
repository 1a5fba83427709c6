"""Recording, reading, exporting and purging audit entries.

An entry is added to the session of the request that made the change (`record`): it is written with the
change, in the same transaction (or the next one, when a use case commits mid-way before a side effect), and
costs the request one INSERT in a round trip it makes anyway at commit, nothing more (bench/audit_latency.py).
A failure is recorded by `record` followed by a commit before the error is raised, since the error rolls the
request's transaction back. Entries hold ids, names, codes and counts: never a question, an answer, a
document's text, a password or a key.
"""

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, and_, or_, select, text

from eneo.audit.models import ActorType, AuditEntry, Outcome
from eneo.audit.schemas import AuditEntryOut
from eneo.auth.principal import Principal
from eneo.core.db import UnitOfWork
from eneo.core.logging import request_id_var, source_ip_var
from eneo.core.pagination import decode_cursor, encode_cursor


@dataclass(frozen=True)
class Actor:
    """Who acted: a user (through a token or one of their API keys), the sysadmin, someone not signed in."""

    type: ActorType
    id: uuid.UUID | None = None
    label: str | None = None
    api_key_id: uuid.UUID | None = None

    @classmethod
    def of(cls, principal: Principal) -> "Actor":
        return cls(ActorType.user, principal.user_id, principal.email, principal.key_id)


SYSADMIN = Actor(ActorType.sysadmin, label="sysadmin")
SYSTEM = Actor(ActorType.system, label="system")


@dataclass(frozen=True)
class Target:
    """What was acted on: a kind (`user`, `api_key`, `collection`...), its id, and a name people recognise
    (an e-mail, a collection's name, a file name); a deleted thing keeps its entry, not its row."""

    type: str
    id: uuid.UUID | None
    label: str | None = None


def record(uow: UnitOfWork, who: Principal | Actor, action: str, target: Target | None = None, *,
           outcome: Outcome = Outcome.success, tenant_id: uuid.UUID | None = None,
           details: dict[str, Any] | None = None) -> None:
    """Add an entry to the unit of work's transaction (written at its next flush or commit).

    `tenant_id` is the principal's tenant unless given (the sysadmin acting on a tenant). `details` holds
    small metadata only (roles, scopes, field names, codes), never content.
    """
    actor = Actor.of(who) if isinstance(who, Principal) else who
    tenant = tenant_id or (who.tenant_id if isinstance(who, Principal) else None)
    if tenant is None:
        raise ValueError("an audit entry needs its tenant")
    uow.session.add(AuditEntry(
        tenant_id=tenant, action=action, outcome=outcome.value, actor_type=actor.type.value, actor_id=actor.id,
        actor_label=actor.label, api_key_id=actor.api_key_id,
        target_type=target.type if target else None, target_id=target.id if target else None,
        target_label=target.label[:500] if target and target.label else None,
        source_ip=(source_ip_var.get() or None), request_id=request_id_var.get(), details=details or {}))


@dataclass(frozen=True)
class AuditFilter:
    """What `GET /api/v1/audit/logs/` narrows to; every field optional. `action` ending in `.` is a prefix
    (`auth.` is every sign-in event)."""

    action: str | None = None
    outcome: Outcome | None = None
    actor_id: uuid.UUID | None = None
    target_type: str | None = None
    target_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, query: Select[Any], tenant_id: uuid.UUID) -> Select[Any]:
        query = query.where(AuditEntry.tenant_id == tenant_id)
        if self.action:
            if self.action.endswith("."):
                query = query.where(AuditEntry.action.startswith(self.action, autoescape=True))
            else:
                query = query.where(AuditEntry.action == self.action)
        if self.outcome:
            query = query.where(AuditEntry.outcome == self.outcome.value)
        if self.actor_id:
            query = query.where(AuditEntry.actor_id == self.actor_id)
        if self.target_type:
            query = query.where(AuditEntry.target_type == self.target_type)
        if self.target_id:
            query = query.where(AuditEntry.target_id == self.target_id)
        if self.since:
            query = query.where(AuditEntry.created_at >= self.since)
        if self.until:
            query = query.where(AuditEntry.created_at < self.until)
        return query


def _newest_first(query: Select[Any]) -> Select[Any]:
    return query.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())


async def list_entries(uow: UnitOfWork, tenant_id: uuid.UUID, filters: AuditFilter, *, limit: int,
                       cursor: str | None) -> tuple[list[AuditEntry], str | None]:
    """A page of entries, newest first; the cursor continues with older ones (new entries never shift it)."""
    query = filters.apply(select(AuditEntry), tenant_id)
    if cursor:
        created, id_ = decode_cursor(cursor)
        query = query.where(or_(AuditEntry.created_at < created,
                                and_(AuditEntry.created_at == created, AuditEntry.id < id_)))
    rows = list((await uow.session.scalars(_newest_first(query).limit(limit + 1))).all())
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(last.created_at, last.id)


COLUMNS = ["id", "created_at", "action", "outcome", "actor_type", "actor_id", "actor_label", "api_key_id",
           "target_type", "target_id", "target_label", "source_ip", "request_id", "details"]


def _csv_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: a name typed by a user (`=HYPERLINK(...)`) is never a formula."""
    if value is None:
        return ""
    if isinstance(value, dict):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    out = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + out if out[:1] in ("=", "+", "-", "@", "\t", "\r") else out


async def export(tenant_id: uuid.UUID, filters: AuditFilter, fmt: Literal["csv", "jsonl"], *,
                 batch: int = 500) -> AsyncIterator[bytes]:
    """Every matching entry, newest first, as CSV (with a header) or JSON Lines, a batch of rows at a time.

    Runs in its own transaction, after the request's has committed: it reads through a server-side cursor,
    so memory stays the same whatever the log's size.
    """
    query = _newest_first(filters.apply(select(AuditEntry), tenant_id)).execution_options(yield_per=batch)
    async with UnitOfWork(tenant_id) as uow:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        if fmt == "csv":
            writer.writerow(COLUMNS)
        rows = 0
        async for entry in await uow.session.stream_scalars(query):
            if fmt == "csv":
                writer.writerow([_csv_cell(getattr(entry, c)) for c in COLUMNS])
            else:
                buffer.write(AuditEntryOut.model_validate(entry).model_dump_json() + "\n")  # the list's shape
            rows += 1
            if rows % batch == 0:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        if buffer.tell():
            yield buffer.getvalue().encode()


async def purge_expired() -> int:
    """Delete the entries past their tenant's retention period (and nothing else: the database function
    and the table's trigger both check the age); each tenant's log then records the run (`audit.purged`,
    with the count). Returns how many went."""
    async with UnitOfWork() as uow:
        purged = (await uow.session.execute(text("SELECT tenant_id, purged FROM audit_purge_expired()"))).all()
    if purged:
        async with UnitOfWork(sysadmin=True) as uow:  # may append to every tenant's log
            for tenant_id, count in purged:
                record(uow, SYSTEM, "audit.purged", tenant_id=tenant_id, details={"entries": int(count)})
    return sum(int(count) for _, count in purged)

SHOWN_VALUES = frozenset({"role", "role_id", "state", "enabled", "is_default", "scope", "audit_retention_days",
                          "password_login", "default_role", "protect_personal_data"})


def changes(body: Any) -> dict[str, Any]:
    """What a PATCH changed, for `details`: the names of the fields it set, and the new values of the few
    that are settings rather than text (role, state, enabled...). A changed credential appears by name only."""
    fields = sorted(body.model_fields_set)
    shown = body.model_dump(include=SHOWN_VALUES & set(fields), mode="json")
    return {"changed": fields, **shown}
