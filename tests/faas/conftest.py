"""`make faas-test`: the OpenFaaS images (infra/openfaas) run as Docker containers on a user-defined network,
against the Postgres, Redis and S3/SQS of a local stack, with what OpenFaaS would put around them played here:

- the gateway and Ingress: `Router`, on 127.0.0.1, routes each request by template.yaml's HTTP routes (the
  local stack's route table) to the function's container, as the Ingress onto /function/<name>/ does;
- MinIO's webhook and an SQS connector: `Connector` takes the S3 notifications and the embed work off the
  local stack's queues and POSTs them to the ingest and embed containers (MinIO's body for S3 records);
- the queue-worker: sessions invokes `complete` by its container's name (Lambda's Invoke API, asynchronous).

infra/openfaas/run.sh builds the images and sets ENEO_FAAS to the JSON file naming them; without it nothing
here is collected.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

import tests.e2e.conftest as e2e_conftest
from eneo_local.event_sources import sqs_record
from eneo_local.parameters import local_parameters
from eneo_local.services import Endpoints
from eneo_local.template import load_template
from tests.conformance.bridge import Bridge
from tests.e2e.conftest import Stack, running_stack
from tests.fakes.llm_server import FakeLLMServer
from tests.project_template import http_routes

CONFIG = os.environ.get("ENEO_FAAS", "")
collect_ignore_glob = [] if CONFIG else ["test_*.py"]
ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 180.0
HTTP = ("AuthFunction", "SpacesFunction", "ModelsFunction", "AssistantsFunction", "SessionsFunction",
        "KnowledgeFunction", "AdminFunction", "PrivacyFunction")
EVENTS = {"CompleteFunction": "invoke", "IngestFunction": "records", "EmbedFunction": "records",
          "SweepFunction": "schedule"}
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def docker(*args: str, check: bool = True) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)  # noqa: S603, S607
    assert done.returncode == 0 or not check, f"docker {' '.join(args[:2])}: {done.stderr[-2000:]}"
    return done.stdout.strip()


@dataclass
class Container:
    logical_id: str
    name: str
    address: str

    @property
    def url(self) -> str:
        return f"http://{self.address}:8080"


@dataclass
class Network:
    name: str
    gateway: str


@pytest.fixture(scope="session")
def network() -> Iterator[Network]:
    name = f"eneo-faas-{os.getpid()}"
    docker("network", "create", name)
    gateway = docker("network", "inspect", name, "--format", "{{(index .IPAM.Config 0).Gateway}}")
    yield Network(name, gateway)
    docker("network", "rm", name, check=False)


@pytest.fixture(scope="session")
def local_stack() -> Iterator[Stack]:
    # The stack still starts every function's warm worker; with the containers' builds and other work on the
    # machine that has taken more than the e2e tests' 90 s (measured: 72 s for the workers alone at load 39).
    e2e_conftest.START_TIMEOUT = max(e2e_conftest.START_TIMEOUT, 300.0)
    # Its queues' consumers and schedules are the containers' (Connector below); no chat model (a fake answers).
    yield from running_stack("eneo-faas-", ENEO_LOCAL_MODEL="off", ENEO_EVENT_SOURCES="off", ENEO_SCHEDULES="off")


@pytest.fixture(scope="session")
def bridge(network: Network) -> Iterator[Bridge]:
    bridge = Bridge(network.gateway)
    yield bridge
    bridge.close()


@pytest.fixture(scope="session")
def fake(network: Network) -> Iterator[FakeLLMServer]:
    """The model provider, listening where the containers reach it (the network's gateway address)."""
    with FakeLLMServer(host=network.gateway, token_count=24, delay=0.002) as server:
        yield server


def _images() -> dict[str, str]:
    return dict(json.loads(Path(CONFIG).read_text())["images"])


def start_container(image: str, name: str, network: str, env: dict[str, str]) -> str:
    env_args = [arg for key, value in env.items() for arg in ("--env", f"{key}={value}")]
    docker("run", "--detach", "--name", name, "--network", network, "--network-alias", name.rsplit("-", 1)[-1],
           *env_args, image)
    return docker("inspect", name, "--format", f"{{{{(index .NetworkSettings.Networks \"{network}\").IPAddress}}}}")


def wait_healthy(url: str, name: str, timeout: float = START_TIMEOUT) -> float:
    """Seconds until GET /_/health answered 200 (the container's cold start)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/_/health", timeout=2).status_code == 200:
                return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"{name} never became healthy:\n{docker('logs', '--tail', '40', name, check=False)}")


@pytest.fixture(scope="session")
def containers(local_stack: Stack, bridge: Bridge, network: Network) -> Iterator[dict[str, Container]]:
    """Every HTTP function and complete, ingest, embed and sweep, each in its image, healthy."""
    endpoints = local_stack.endpoints
    inside = Endpoints(database_url=bridge.url(endpoints["database_url"]), database_migration_url="",
                       redis_url=bridge.url(endpoints["redis_url"]),
                       s3_endpoint_url=bridge.url(endpoints["s3_endpoint_url"]))
    parameters = local_parameters(inside, local_stack.data_dir, env=local_stack.env())
    parameters["OutboundAllowedHosts"] = f"127.0.0.1,{network.gateway}"
    template = load_template(ROOT / "template.yaml", parameters, region=endpoints["region"],
                             sqs_endpoint_url=inside.sqs_url)
    images = _images()
    started: dict[str, Container] = {}
    try:
        for logical_id in (*HTTP, *EVENTS):
            spec = template.functions[logical_id]
            folder = spec.code_uri.name
            env = dict(spec.environment) | {
                "ENEO_EVENT": EVENTS.get(logical_id, "http"), "AWS_LAMBDA_FUNCTION_NAME": folder,
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout), "AWS_REGION": endpoints["region"],
                "AWS_DEFAULT_REGION": endpoints["region"], "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": local_stack.secret("aws_secret_access_key"),
                "WS_FUNCTION_NAME": "",  # no WebSocket API on OpenFaaS: relays never park, writers wake none
                "COMPLETE_FUNCTION_NAME": "complete", "AWS_ENDPOINT_URL_LAMBDA": "http://complete:8080",
                # The e2e stack's allowance for its scripted users (tests/e2e/conftest.py).
                "RATE_LIMIT_USER_PER_MINUTE": local_stack.env()["RATE_LIMIT_USER_PER_MINUTE"]}
            name = f"{network.name}-{folder}"
            address = start_container(images[folder], name, network.name, env)
            started[logical_id] = Container(logical_id, name, address)
        for container in started.values():
            container_start = wait_healthy(container.url, container.name)
            print(f"faas: {container.logical_id} healthy after {container_start:.1f} s")
        yield started
    finally:
        for container in started.values():
            logs = docker("logs", "--tail", "200", container.name, check=False)
            (local_stack.data_dir.parent / f"{container.name}.log").write_text(logs)
        if started:
            docker("rm", "--force", *(c.name for c in started.values()), check=False)


class Router:
    """The gateway + Ingress: template.yaml's HTTP routes onto the containers, request and response as sent."""

    def __init__(self, containers: dict[str, Container]) -> None:
        routes, client = http_routes(), httpx.Client(timeout=60)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the containers' answers are what the tests check."""

            def _forward(self) -> None:
                path = self.path.split("?", 1)[0]
                match = routes.match(self.command, path)
                target = containers.get(match.route.function) if match else None
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if target is None:
                    return self._send(404, [("content-type", "application/json")], b'{"message":"Not Found"}')
                headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP]
                answer = client.request(self.command, target.url + self.path, headers=headers, content=body)
                self._send(answer.status_code, [(k, v) for k, v in answer.headers.multi_items()
                                                if k.lower() not in HOP_BY_HOP | {"content-encoding"}],
                           answer.content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _forward

            def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class Connector:
    """MinIO's webhook (S3 records of the ingest queue, posted as MinIO posts them) and an SQS connector
    (embed work and document retries, posted as SQS batches): a message is deleted only after a 2xx."""

    def __init__(self, stack: Stack, containers: dict[str, Container]) -> None:
        self.region = stack.endpoints["region"]
        self.sqs = boto3.client("sqs", endpoint_url=stack.endpoints["sqs_endpoint_url"], region_name=self.region,
                                aws_access_key_id="local", aws_secret_access_key=stack.secret("aws_secret_access_key"))
        self.targets = {queue: containers[fn].url for queue, fn in
                        (("IngestQueue", "IngestFunction"), ("EmbedQueue", "EmbedFunction"))}
        self.queues = {name: stack.endpoints["queues"][name] for name in self.targets}
        self.delivered: dict[str, int] = {name: 0 for name in self.targets}
        self.minio_posts = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._poll, args=(name,), daemon=True) for name in self.targets]
        for t in self._threads:
            t.start()

    def _poll(self, queue: str) -> None:
        url = self.queues[queue]
        arn = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        while not self._stop.is_set():
            try:
                got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=5, WaitTimeSeconds=1,
                                               AttributeNames=["All"], MessageAttributeNames=["All"])
            except Exception:
                return
            for message in got.get("Messages", []):
                if self._deliver(queue, message, arn):
                    self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    self.delivered[queue] += 1

    def _deliver(self, queue: str, message: dict[str, Any], arn: str) -> bool:
        body = json.loads(message["Body"])
        if queue == "IngestQueue" and isinstance(body, dict) and body.get("Records"):
            record = body["Records"][0]
            key = f"{record['s3']['bucket']['name']}/{record['s3']['object']['key']}"
            event: dict[str, Any] = {"EventName": record["eventName"], "Key": key, "Records": body["Records"]}
            self.minio_posts += 1
        else:
            event = {"Records": [sqs_record(message, arn, self.region)]}
        answer = httpx.post(self.targets[queue], json=event, timeout=150)
        return answer.status_code == 200

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(5)


@pytest.fixture(scope="session")
def router(containers: dict[str, Container]) -> Iterator[Router]:
    router = Router(containers)
    yield router
    router.close()


@pytest.fixture(scope="session")
def connector(local_stack: Stack, containers: dict[str, Container]) -> Iterator[Connector]:
    connector = Connector(local_stack, containers)
    yield connector
    connector.close()


@pytest.fixture(scope="session")
def stack(local_stack: Stack, router: Router, connector: Connector) -> Stack:
    """What the end-to-end tests call `stack`, with its REST API served by the containers."""
    through = copy.copy(local_stack)
    through.base_url = router.url
    return through
