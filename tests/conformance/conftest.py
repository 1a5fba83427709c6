"""The Lambda conformance tier: the functions as `sam build` builds them, in AWS's runtime (awslambdaric under
the Runtime Interface Emulator that SAM CLI ships), against the Postgres, Redis and S3/SQS of a local stack.

`make conformance` (infra/conformance/run.sh) installs Docker and SAM CLI, builds the layers and the image,
and sets ENEO_CONFORMANCE to the JSON file that says where they are; without it nothing here is collected
(plain `pytest` runs the rest of the suite). What runs where:

- the HTTP functions: `sam local start-api` over the built template.yaml, in containers;
- `complete`: `sam local invoke` with each event the sessions function sent (lambda_relay.py);
- ingest, embed, sweep and the ws routes: `sam local invoke` with the events Lambda would send (test_events.py);
- the local stack keeps what SAM CLI cannot run: the WebSocket API (its ws worker relays the answers),
  S3 -> SQS notifications, and the data services, which the containers reach through bridge.py.
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import yaml

from eneo_local.parameters import local_parameters
from eneo_local.services import Endpoints
from eneo_local.template import load_template
from tests.conformance.bridge import Bridge
from tests.conformance.lambda_relay import LambdaRelay
from tests.e2e.conftest import Stack, running_stack

CONFIG = os.environ.get("ENEO_CONFORMANCE", "")
collect_ignore_glob = [] if CONFIG else ["test_*.py"]
ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 420.0
HTTP_FUNCTIONS = ("AuthFunction", "SpacesFunction", "ModelsFunction", "AssistantsFunction", "SessionsFunction",
                  "KnowledgeFunction", "AdminFunction", "PrivacyFunction")


@dataclass
class Sam:
    """SAM CLI, the built template and the image, and the files that bind them to this run's services."""

    binary: str
    image: str
    template: Path  # the built template, with AWS_ENDPOINT_URL_LAMBDA added (see `sam` below)
    env_vars: Path  # {LogicalId: {VAR: value}}: the local stack's values, as containers reach them
    environment: dict[str, str]  # SAM CLI's own: the AWS credentials it passes to the containers
    work: Path

    images: dict[str, str]  # logical id -> the runtime image with that function's layers in /opt

    def command(self, *args: str) -> list[str]:
        images = [arg for name, image in self.images.items() for arg in ("--invoke-image", f"{name}={image}")]
        return [self.binary, *args, "--template", str(self.template), "--env-vars", str(self.env_vars),
                *images, "--skip-pull-image"]

    def invoke(self, function: str, event: Any, timeout: float = 180) -> Any:
        """`sam local invoke`: a fresh container (a cold start), the event from a file; the response."""
        event_file = self.work / f"event-{function}-{time.monotonic_ns()}.json"
        event_file.write_text(json.dumps(event))
        done = subprocess.run(self.command("local", "invoke", function, "--event", str(event_file)),  # noqa: S603
                              capture_output=True, text=True, env=self.environment, timeout=timeout, check=False)
        remove_containers(done.stdout + done.stderr)
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        assert done.returncode == 0 and lines, f"sam local invoke {function}: {done.returncode}\n" \
                                               f"{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
        return json.loads(lines[-1])


def _config() -> dict[str, Any]:
    return dict(json.loads(Path(CONFIG).read_text()))


def bridge_gateway() -> str:
    """The address containers on Docker's default bridge reach this machine by: the bridge interface's own
    (Docker 20.10 names no Gateway in the network's IPAM config)."""
    inspect = ["docker", "network", "inspect", "bridge", "--format",
               '{{index .Options "com.docker.network.bridge.name"}}']
    interface = subprocess.run(inspect, capture_output=True, text=True, check=True).stdout.strip() or "docker0"  # noqa: S603 - docker
    shown = subprocess.run(["ip", "-4", "-o", "addr", "show", interface],  # noqa: S603, S607
                           capture_output=True, text=True, check=True).stdout
    address = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", shown)
    assert address, f"no IPv4 address on {interface}: {shown!r}"
    return address.group(1)


@pytest.fixture(scope="session")
def local_stack() -> Iterator[Stack]:
    # The chat model is not needed (answers come from a fake provider) and would take a core while it loads.
    # Its queues and schedules are left to the tests, which deliver their events with `sam local invoke`.
    yield from running_stack("eneo-conformance-", ENEO_LOCAL_MODEL="off", ENEO_EVENT_SOURCES="off",
                             ENEO_SCHEDULES="off")


@pytest.fixture(scope="session")
def bridge() -> Iterator[Bridge]:
    bridge = Bridge(bridge_gateway())
    yield bridge
    bridge.close()


def strip_layers(template: dict[str, Any]) -> None:
    """The template without `Layers`: each function's --invoke-image has its layers in /opt (images.py)."""
    template.get("Globals", {}).get("Function", {}).pop("Layers", None)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"].pop("Layers", None)


def _local_lambda(local_stack: Stack) -> Any:
    return boto3.client("lambda", endpoint_url=local_stack.endpoints["lambda_endpoint_url"],
                        region_name=local_stack.endpoints["region"], aws_access_key_id="local",
                        aws_secret_access_key=local_stack.secret("aws_secret_access_key"))


@pytest.fixture(scope="session")
def sam(local_stack: Stack, bridge: Bridge, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sam]:
    config = _config()
    work = tmp_path_factory.mktemp("sam")
    endpoints = local_stack.endpoints
    container = Endpoints(database_url=bridge.url(endpoints["database_url"]), database_migration_url="",
                          redis_url=bridge.url(endpoints["redis_url"]),
                          s3_endpoint_url=bridge.url(endpoints["s3_endpoint_url"]))
    stage = endpoints["ws_url"].rsplit("/", 1)[-1]
    management = bridge.url(endpoints["ws_management_url"].rsplit("/", 1)[0]) + f"/{stage}"
    parameters = local_parameters(container, local_stack.data_dir, env=local_stack.env(),
                                  ws_management_url=management)
    resolved = load_template(ROOT / "template.yaml", parameters, region=endpoints["region"],
                             sqs_endpoint_url=container.sqs_url)
    env_vars = work / "env-vars.json"
    env_vars.write_text(json.dumps({f.logical_id: f.environment for f in resolved.functions.values()}, indent=1))

    # SAM CLI passes a container only the variables its template declares (and AWS credentials). boto3 finds
    # the Lambda Invoke API by AWS_ENDPOINT_URL_LAMBDA, which AWS needs no variable for: the built template
    # gets it, beside the built code (its paths are relative to it).
    relay = LambdaRelay(bridge.host, endpoints["functions"]["CompleteFunction"],
                        lambda event: holder.invoke("CompleteFunction", event), _local_lambda(local_stack))
    built = Path(config["template"])
    template = yaml.safe_load(built.read_text())
    images = dict(config["images"])
    strip_layers(template)
    variables = template.setdefault("Globals", {}).setdefault("Function", {}).setdefault(
        "Environment", {}).setdefault("Variables", {})
    variables["AWS_ENDPOINT_URL_LAMBDA"] = relay.url
    # The e2e stack's allowance for its scripted users (tests/e2e/conftest.py): the cross-tenant table makes
    # thousands of requests a minute as one user, past the 1200 a person does.
    variables["RATE_LIMIT_USER_PER_MINUTE"] = local_stack.env()["RATE_LIMIT_USER_PER_MINUTE"]
    derived = built.with_name("template.conformance.yaml")
    derived.write_text(yaml.safe_dump(template, sort_keys=False))

    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {
        "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": local_stack.secret("aws_secret_access_key"),
        "AWS_DEFAULT_REGION": endpoints["region"], "AWS_REGION": endpoints["region"],
        "SAM_CLI_TELEMETRY": "0", "SAM_CLI_CONTAINER_CONNECTION_TIMEOUT": "60"}
    holder = Sam(config["sam"], config["image"], derived, env_vars, environment, work, images)
    holder.relay = relay  # type: ignore[attr-defined]
    yield holder
    relay.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SamApi:
    url: str
    log: Path
    process: subprocess.Popen[bytes]


@pytest.fixture(scope="session")
def sam_api(sam: Sam) -> Iterator[SamApi]:
    """`sam local start-api` with a warm container per HTTP function, started before the first request."""
    port = _free_port()
    log = sam.work / "start-api.log"
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - SAM CLI
            sam.command("local", "start-api", "--port", str(port), "--host", "127.0.0.1",
                        "--warm-containers", "EAGER"),
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=sam.environment,
            start_new_session=True)
    api = SamApi(f"http://127.0.0.1:{port}", log, process)
    deadline = time.monotonic() + START_TIMEOUT
    pending = {f"/api/v1/health/{name.removesuffix('Function').lower()}" for name in HTTP_FUNCTIONS}
    try:
        while pending:
            assert process.poll() is None, f"sam local start-api exited:\n{log.read_text()[-6000:]}"
            assert time.monotonic() < deadline, f"not every function answered:\n{log.read_text()[-6000:]}"
            for path in sorted(pending):
                try:
                    if httpx.get(api.url + path, timeout=30).status_code == 200:
                        pending.discard(path)
                except httpx.HTTPError:
                    pass
            time.sleep(0.5)
        yield api
    finally:
        os.killpg(process.pid, signal.SIGINT)  # SAM CLI stops and removes its containers on Ctrl-C
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        remove_containers(log.read_text())


def remove_containers(output: str) -> None:
    """The containers a SAM CLI command logged (SAM_CONTAINER_ID), if it left any (it was stopped early)."""
    ids = re.findall(r"SAM_CONTAINER_ID: ([0-9a-f]{64})", output)
    if ids:
        subprocess.run(["docker", "rm", "--force", *ids], capture_output=True, check=False)  # noqa: S603, S607


@pytest.fixture(scope="session")
def stack(local_stack: Stack, sam_api: SamApi) -> Stack:
    """What the end-to-end tests call `stack`, with its REST API served by SAM CLI instead."""
    through_sam = copy.copy(local_stack)
    through_sam.base_url = sam_api.url
    return through_sam
