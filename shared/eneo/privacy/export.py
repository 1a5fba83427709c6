"""A user's data export (GDPR art. 15 and 20): everything the platform holds about them, as one zip archive
of JSON files plus the documents they uploaded, written to the documents bucket and handed out through a
presigned download link.

Asked by the user themself or by an admin of their tenant (eneo.users.service.get_user decides: anyone else
gets 404, another tenant's user too). The archive holds only rows whose owner is the user (their sessions
and questions, keys, memberships, uploads, what they created); never a secret (no password or key hash, no
refresh token, no provider credential) and nothing of another user's.

`manifest.json` lists the files; each JSON file is one array or object (schema in docs/privacy.md).
Archives live under `exports/` (outside `tenants/`, so the bucket's upload notifications never queue them
for ingestion); the bucket's lifecycle rule removes them after a few days.
"""

from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select

from eneo.api_keys.models import ApiKey
from eneo.assistants.models import Assistant
from eneo.auth.models import LoginSession
from eneo.auth.principal import Principal
from eneo.core import storage
from eneo.core.db import UnitOfWork
from eneo.core.errors import NotFound
from eneo.core.ids import utcnow
from eneo.core.settings import Settings
from eneo.knowledge.models import Group, InfoBlob
from eneo.privacy import audit
from eneo.sessions.models import Question, Session
from eneo.spaces.models import Space, SpaceMember
from eneo.users.models import User
from eneo.users.service import get_user

FORMAT_VERSION = 1
CREATED = ("id", "space_id", "name", "description", "created_at")
LINK_SECONDS = 3600  # the download link's life; the archive itself stays until the lifecycle rule


@dataclass(frozen=True)
class ExportReady:
    url: str
    expires_at: datetime
    size_bytes: int
    files: int  # documents included


def _row(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {f: getattr(obj, f) for f in fields}


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str).encode()


def export_key(tenant_id: uuid.UUID, user_id: uuid.UUID, export_id: uuid.UUID) -> str:
    return f"exports/{tenant_id}/{user_id}/{export_id}.zip"


async def collect(uow: UnitOfWork, tenant_id: uuid.UUID, user_id: uuid.UUID) -> tuple[dict[str, Any], list[InfoBlob]]:
    """The user's rows as JSON-ready data (file name -> content), and their documents."""
    s = uow.session
    user = await s.scalar(select(User).where(User.id == user_id, User.tenant_id == tenant_id))
    if user is None:
        raise NotFound("User")
    memberships = (await s.execute(
        select(Space, SpaceMember.role).join(SpaceMember, SpaceMember.space_id == Space.id)
        .where(SpaceMember.user_id == user_id, Space.tenant_id == tenant_id).order_by(Space.created_at))).all()
    sessions = (await s.scalars(select(Session).where(Session.user_id == user_id, Session.tenant_id == tenant_id)
                                .order_by(Session.created_at))).all()
    questions = (await s.scalars(select(Question).where(Question.user_id == user_id, Question.tenant_id == tenant_id)
                                 .order_by(Question.created_at))).all()
    keys = (await s.scalars(select(ApiKey).where(ApiKey.user_id == user_id, ApiKey.tenant_id == tenant_id)
                            .order_by(ApiKey.created_at))).all()
    logins = (await s.scalars(select(LoginSession).where(
        LoginSession.user_id == user_id, LoginSession.tenant_id == tenant_id).order_by(LoginSession.created_at))).all()
    personal = select(Group.id).join(Space, Space.id == Group.space_id).where(
        Space.owner_id == user_id, Space.personal, Space.tenant_id == tenant_id)
    blobs = list((await s.scalars(select(InfoBlob).where(
        InfoBlob.tenant_id == tenant_id,
        or_(InfoBlob.uploaded_by == user_id, InfoBlob.group_id.in_(personal))).order_by(InfoBlob.created_at))).all())
    assistants = (await s.scalars(select(Assistant).where(
        Assistant.created_by == user_id, Assistant.tenant_id == tenant_id).order_by(Assistant.created_at))).all()
    groups = (await s.scalars(select(Group).where(Group.created_by == user_id, Group.tenant_id == tenant_id)
                              .order_by(Group.created_at))).all()

    by_session: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for q in questions:
        by_session.setdefault(q.session_id, []).append({
            **_row(q, ("id", "created_at", "completed_at", "question", "answer", "status", "model_name",
                       "input_tokens", "output_tokens", "references")),
            "feedback": {"value": q.feedback, "text": q.feedback_text} if q.feedback is not None else None})
    data = {
        "user.json": _row(user, ("id", "tenant_id", "email", "name", "role", "state", "created_at", "updated_at",
                                 "last_login_at")),
        "spaces.json": [{**_row(space, ("id", "name", "description", "personal", "created_at")), "role": role}
                        for space, role in memberships],
        "sessions.json": [{**_row(x, ("id", "assistant_id", "name", "created_at", "updated_at")),
                           "questions": by_session.get(x.id, [])} for x in sessions],
        "feedback.json": [{"question_id": q.id, "session_id": q.session_id, "value": q.feedback,
                           "text": q.feedback_text, "question": q.question}
                          for q in questions if q.feedback is not None],
        "api_keys.json": [_row(k, ("id", "name", "prefix", "last4", "scope", "assistant_id", "created_at",
                                   "expires_at", "revoked_at", "last_used_at")) for k in keys],
        "login_sessions.json": [_row(x, ("id", "created_at", "rotated_at", "expires_at", "ended_at")) for x in logins],
        "documents.json": [{**_row(b, ("id", "group_id", "title", "filename", "declared_type", "content_type",
                                       "size_bytes", "content_hash", "status", "pages", "created_at")),
                            "file": f"documents/{b.id}/{_safe(b.filename)}"} for b in blobs],
        "assistants_created.json": [_row(a, CREATED) for a in assistants],
        "collections_created.json": [_row(g, CREATED) for g in groups],
    }
    return data, blobs


_RESERVED = set('/\\:*?"<>|')  # folder separators, and what Windows refuses in a file name


def _safe(filename: str) -> str:
    """A file name safe inside a zip on any system: no folders, no dot-dot, no control characters."""
    name = "".join("_" if c in _RESERVED else c for c in filename if c.isprintable()).lstrip(".")
    return name[:200] or "file"


def build_archive(data: dict[str, Any], files: dict[str, bytes | None], *, exported_at: datetime) -> bytes:
    """The zip: `manifest.json`, the JSON files, and each document's bytes (a document whose file is gone is
    listed in the manifest as missing)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in data.items():
            archive.writestr(name, _json(content))
        missing = []
        for path, blob in files.items():
            if blob is None:
                missing.append(path)
            else:
                archive.writestr(path, blob)
        archive.writestr("manifest.json", _json({
            "format": "eneo-user-export", "version": FORMAT_VERSION, "exported_at": exported_at,
            "files": sorted([*data, *(p for p, b in files.items() if b is not None)]), "missing_documents": missing}))
    return buffer.getvalue()


async def export_user(uow: UnitOfWork, p: Principal, settings: Settings, user_id: uuid.UUID) -> ExportReady:
    """Build the archive of `user_id`'s data, store it, and return a presigned link to it."""
    user = await get_user(uow, p, user_id)  # 404 for anyone but the user and their tenant's admins
    data, blobs = await collect(uow, p.tenant_id, user.id)
    await uow.commit()  # nothing is written: end the read before the storage calls, holding no connection

    def read(blob: InfoBlob) -> bytes | None:
        return storage.read_object(blob.object_key, settings.upload_max_bytes, settings=settings)

    files = {f"documents/{b.id}/{_safe(b.filename)}": await asyncio.to_thread(read, b) for b in blobs}
    now = utcnow()
    archive = build_archive(data, files, exported_at=now)
    key = export_key(p.tenant_id, user.id, uuid.uuid4())
    await asyncio.to_thread(storage.put_object, key, archive, "application/zip", settings=settings)
    url = await asyncio.to_thread(storage.presigned_get, key, expires_in=LINK_SECONDS,
                                  filename=f"eneo-export-{user.id}.zip", settings=settings)
    await audit.record("user.export", tenant_id=p.tenant_id, actor_id=p.user_id, target_id=user.id,
                       details={"documents": len(blobs), "size_bytes": len(archive)})
    return ExportReady(url=url, expires_at=now + timedelta(seconds=LINK_SECONDS), size_bytes=len(archive),
                       files=sum(1 for b in files.values() if b is not None))
