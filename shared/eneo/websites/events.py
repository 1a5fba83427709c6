"""Crawl progress on the events stream of the user who started the run (the website's creator for a
scheduled one), relayed over the WebSocket like documents' status. Best effort: HTTP has the state."""

import logging

from eneo.core.redis import get_redis
from eneo.core.settings import get_settings
from eneo.core.user_events import UserEvents
from eneo.websites.models import CrawlRun

log = logging.getLogger("eneo.websites")

RUN_PROGRESS = "crawl_run.progress"


async def publish_run(user_id: object, run: CrawlRun) -> None:
    from eneo.websites.service import run_out

    try:
        events = UserEvents(get_redis(), str(user_id), get_settings().events_stream_ttl_seconds)
        await events.publish(RUN_PROGRESS, run_out(run).model_dump(mode="json"))
    except Exception as exc:
        log.warning("crawl progress not published", extra={"run_id": str(run.id), "error": type(exc).__name__})
