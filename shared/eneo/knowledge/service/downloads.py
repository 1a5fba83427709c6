"""A document's original file, for whoever may read the document: a short-lived presigned link to it.

The link goes straight to storage (no bytes through the function, whose response size is capped) and
is valid a few minutes, so a link copied out of the browser stops working soon. The object is checked
first: a document whose file never arrived (an upload that did not finish) or was removed answers 404
`object_missing`, not a link that fails later in storage's own words.
"""

import asyncio
import re
import uuid
from datetime import timedelta

from eneo.auth.principal import Principal
from eneo.core import storage
from eneo.core.db import UnitOfWork
from eneo.core.errors import AppError
from eneo.core.ids import utcnow
from eneo.core.settings import Settings
from eneo.knowledge.schemas import DownloadOut
from eneo.knowledge.service.access import StorageUnavailable, blob_for
from eneo.spaces.policy import SpaceAction

LINK_SECONDS = 300
_UNSAFE = re.compile(r'[^A-Za-z0-9._ -]')


class ObjectMissing(AppError):
    status, code = 404, "object_missing"


def attachment_name(filename: str) -> str:
    """The file name as a Content-Disposition quoted string can carry it: ASCII letters, digits, dot,
    dash, underscore and space; anything else (quotes, non-ASCII, control characters) becomes `_`."""
    return _UNSAFE.sub("_", filename).strip() or "document"


async def download(uow: UnitOfWork, p: Principal, blob_id: uuid.UUID, settings: Settings) -> DownloadOut:
    blob = await blob_for(uow, p, blob_id, SpaceAction.read)  # 404 for non-members and other tenants
    key, filename = blob.object_key, blob.filename
    out = DownloadOut(info_blob_id=blob.id, url="", expires_at=utcnow(), filename=filename,
                      content_type=blob.content_type or blob.declared_type, size_bytes=blob.size_bytes,
                      source_url=blob.source_url)
    await uow.commit()  # nothing is written: hold no connection through the storage calls
    try:
        size = await asyncio.to_thread(storage.object_size, key, settings=settings)
    except Exception as exc:  # storage down or refusing: say so, not "missing"
        raise StorageUnavailable("Storage is unavailable; try again shortly") from exc
    if size is None:
        raise ObjectMissing("The document's file is not in storage (the upload never finished, or it was removed)")
    url = await asyncio.to_thread(storage.presigned_get, key, expires_in=LINK_SECONDS,
                                  filename=attachment_name(filename), settings=settings)
    return out.model_copy(update={"url": url, "expires_at": utcnow() + timedelta(seconds=LINK_SECONDS),
                                  "size_bytes": size})
