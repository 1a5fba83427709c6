"""Status events of documents, pushed to the uploader's events stream (relayed over the WebSocket)."""

from typing import Any

from redis.asyncio import Redis

from eneo.core.settings import get_settings
from eneo.knowledge.models import InfoBlob
from eneo.realtime.events import UserEvents

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
