"""Status events of documents, pushed to the uploader's events stream (relayed over the WebSocket)."""

import logging
from typing import Any

from redis.asyncio import Redis

from eneo.core.redis import get_redis
from eneo.core.settings import get_settings
from eneo.core.user_events import UserEvents
from eneo.knowledge.models import InfoBlob

log = logging.getLogger("eneo.knowledge")

BLOB_STATUS = "info_blob.status"


def blob_status_data(blob: InfoBlob) -> dict[str, Any]:
    """What a client needs to redraw one document's row; no content, only ids, title and progress."""
    return {"id": str(blob.id), "group_id": str(blob.group_id), "title": blob.title, "status": blob.status.value,
            "error_code": blob.error_code, "error_message": blob.error_message,
            "chunks_total": blob.chunks_total, "chunks_embedded": blob.chunks_embedded}


async def publish_blob_status(redis: Redis, blob: InfoBlob) -> str | None:
    """XADD `info_blob.status` to `events:{uploaded_by}`; None when nobody uploaded it (user deleted)."""
    if blob.uploaded_by is None:
        return None
    events = UserEvents(redis, blob.uploaded_by, get_settings().events_stream_ttl_seconds)
    return await events.publish(BLOB_STATUS, blob_status_data(blob))


async def publish_status(blob: InfoBlob) -> None:
    """Push the blob's status to its uploader's events stream. Best effort: the status is in the
    database either way (HTTP shows it), and a Redis hiccup must not make ingestion redo work."""
    try:
        await publish_blob_status(get_redis(), blob)
    except Exception as exc:
        log.warning("status event not published", extra={"blob_id": str(blob.id), "error": type(exc).__name__})
