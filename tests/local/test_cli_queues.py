"""What `eneo-local up` prints about the template's queues."""

from pathlib import Path
from types import SimpleNamespace

from eneo_local.cli import queue_lines
from eneo_local.event_sources import Queue
from eneo_local.stack import LocalStack, StackConfig
from eneo_local.template import QueueSpec

URL = "http://127.0.0.1:5000/123456789012/"


def test_queue_lines_name_consumer_and_dead_letters(tmp_path: Path) -> None:
    stack = LocalStack(StackConfig(data_dir=tmp_path))
    ingest = QueueSpec("IngestQueue", "s-IngestQueue", URL + "s-IngestQueue", "arn:i",
                       {"VisibilityTimeout": "5"}, "IngestDeadLetterQueue", 3)
    dead = QueueSpec("IngestDeadLetterQueue", "s-dlq", URL + "s-dlq", "arn:d")
    stack.queues = {q.logical_id: Queue(q, q.url, q.arn) for q in (ingest, dead)}
    stack.event_sources = SimpleNamespace(describe=lambda: [  # type: ignore[assignment]
        {"function": "IngestFunction", "queue": "IngestQueue", "batch_size": 5, "pollers": 2}])
    assert queue_lines(stack) == [
        f"IngestQueue {URL}s-IngestQueue -> IngestFunction (batch 5, 2 pollers); after 3 receives -> "
        "IngestDeadLetterQueue (retried after 5 s)",
        f"IngestDeadLetterQueue {URL}s-dlq"]
