"""`eneo-local up`: run template.yaml on this machine until Ctrl-C (or SIGTERM).

Environment: ENEO_DATA_DIR (.eneo-data), ENEO_PORT (8000; 0 picks a free port), ENEO_WS_PORT (the
WebSocket API's port: ENEO_PORT + 1), ENEO_LAMBDA_PORT (the Lambda Invoke API's: any free one), ENEO_TENANT_NAME,
ENEO_ADMIN_EMAIL, ENEO_ADMIN_PASSWORD (first run), JWT_SECRET, SUPER_API_KEY, LOG_LEVEL,
ENEO_MAX_CONCURRENCY (10 instances per function), ENEO_TEMPLATE, ENEO_QUEUE_VISIBILITY_SECONDS (5: how soon a
failed SQS message is retried), ENEO_SQS_CONCURRENCY (2 pollers per SQS event source), ENEO_SCHEDULES (on;
off: the template's EventBridge schedules do not run), ENEO_EVENT_SOURCES (on; off: nothing
reads the template's SQS queues, a test delivers their messages); DATABASE_URL
(+ _MIGRATION_URL), REDIS_URL, S3_ENDPOINT_URL (SQS_ENDPOINT_URL) to use external services instead of the
embedded ones.

Prints `eneo-local ready: http://127.0.0.1:PORT` once requests can be served (tests wait for that
line) and exits 0 after a clean shutdown.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import warnings
from pathlib import Path

from eneo.core.logging import configure_logging
from eneo_local import local_model
from eneo_local.bootstrap import BootstrapError, login_instructions
from eneo_local.stack import LocalStack, StackConfig, StackError
from eneo_local.template import TemplateError

log = logging.getLogger("eneo_local.cli")
READY_PREFIX = "eneo-local ready: "


def _parameter(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="eneo-local", description="Run template.yaml on this machine.")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the local stack and serve until Ctrl-C")
    up.add_argument("--data-dir", type=Path, default=Path(os.environ.get("ENEO_DATA_DIR") or ".eneo-data"),
                    help="where Postgres, Redis, S3 objects and secrets live (ENEO_DATA_DIR, .eneo-data)")
    up.add_argument("--port", type=int, default=int(os.environ.get("ENEO_PORT") or 8000),
                    help="the gateway's port on 127.0.0.1 (ENEO_PORT, 8000; 0 picks a free one)")
    up.add_argument("--ws-port", type=int,
                    default=int(os.environ["ENEO_WS_PORT"]) if os.environ.get("ENEO_WS_PORT") else None,
                    help="the WebSocket API's port (ENEO_WS_PORT; the gateway's port + 1, or a free one with 0)")
    up.add_argument("--lambda-port", type=int, default=int(os.environ.get("ENEO_LAMBDA_PORT") or 0),
                    help="the Lambda Invoke API's port, for functions that invoke others (ENEO_LAMBDA_PORT, any)")
    up.add_argument("--template", type=Path, default=None, help="the SAM template (ENEO_TEMPLATE, template.yaml)")
    up.add_argument("--param", type=_parameter, action="append", default=[], metavar="NAME=VALUE",
                    help="a template parameter value, for parameters the stack does not supply itself")
    return parser.parse_args(argv)


def _quiet_libraries() -> None:
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    for name in ("pgserver", "alembic.runtime.plugins", "botocore", "urllib3", "uvicorn.error"):
        logging.getLogger(name).setLevel(logging.WARNING)


def queue_lines(stack: LocalStack) -> list[str]:
    """One line per queue: its URL, who consumes it, and where its failures go."""
    consumers = {m["queue"]: m for m in stack.event_sources.describe()} if stack.event_sources else {}
    lines = []
    for logical_id, queue in stack.queues.items():
        line = f"{logical_id} {queue.url}"
        if mapping := consumers.get(logical_id):
            line += f" -> {mapping['function']} (batch {mapping['batch_size']}, {mapping['pollers']} pollers)"
        if queue.spec.dead_letter_queue:
            line += (f"; after {queue.spec.max_receive_count} receives -> {queue.spec.dead_letter_queue}"
                     f" (retried after {queue.spec.visibility_timeout} s)")
        lines.append(line)
    return lines


async def up(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def on_signal(sig: signal.Signals) -> None:
        if stopping.is_set():
            log.warning("already stopping; waiting for the workers and services to finish")
        stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)

    config = StackConfig(data_dir=args.data_dir, port=args.port, parameter_overrides=dict(args.param),
                         ws_port=args.ws_port, lambda_port=args.lambda_port)
    if args.template is not None:
        config.template_path = args.template
    stack = LocalStack(config)
    try:
        await stack.start()
    except (StackError, TemplateError, BootstrapError, OSError, TimeoutError) as exc:
        log.error("eneo-local could not start", extra={"error": f"{type(exc).__name__}: {exc}"})
        print(f"eneo-local could not start: {exc}", file=sys.stderr, flush=True)
        return 1
    assert stack.login is not None and stack.endpoints is not None
    print(login_instructions(stack.base_url, stack.login), flush=True)
    print(f"  s3:       {stack.endpoints.s3_endpoint_url} (buckets: "
          f"{', '.join(stack.describe()['buckets'].values()) or 'none'})", flush=True)
    if stack.ws_url:
        print(f"  ws:       {stack.ws_url}   (WebSocket API)", flush=True)
    for line in queue_lines(stack):
        print(f"  queue:    {line}", flush=True)
    for line in stack.schedules.describe() if stack.schedules else ["off (ENEO_SCHEDULES=off)"]:
        print(f"  schedule: {line}", flush=True)
    if stack.local_model is not None:
        print(f"  model:    {local_model.DISPLAY_NAME} at {stack.local_model.base_url}   (ENEO_LOCAL_MODEL=off "
              "to skip)", flush=True)
    else:
        print("  model:    none built in; add a provider (README: A real model provider)", flush=True)
    print(f"  data:     {stack.data_dir}   (stop with Ctrl-C)", flush=True)
    print(f"{READY_PREFIX}{stack.base_url}", flush=True)

    await stopping.wait()
    log.info("stopping")
    await stack.stop()
    log.info("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_logging("eneo-local", os.environ.get("LOG_LEVEL", "INFO"))
    _quiet_libraries()
    if args.command == "up":
        return asyncio.run(up(args))
    return 2


if __name__ == "__main__":
    sys.exit(main())
