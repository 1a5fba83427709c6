"""Crawl scheduler function: EventBridge's scheduled event (template.yaml) queues the websites that are due,
within each tenant's cap on concurrent crawls, and re-queues runs nobody works on (eneo.websites.schedule).
The event's content is not read: any invoke schedules."""

from typing import Any

from eneo.core.aio import invocation, run, start_function
from eneo.websites.schedule import schedule_due

start_function("crawl_scheduler")


@invocation
def handler(event: Any, context: Any) -> dict[str, int]:
    return run(schedule_due()).as_dict()
