"""An HTTP function in AWS's Lambda runtime (SAM CLI's container) vs the local stack, in the same run.

`GET /api/v1/spaces/` as a logged-in user, against the same embedded Postgres and Redis:

* local: client → eneo-local's gateway → warm worker process → Mangum → app (the baseline)
* sam:   client → `sam local start-api` → the Runtime Interface Emulator in a container of the spaces
         function's image (built by `make conformance`: layers as for AWS, awslambdaric) → Mangum → app,
         reaching Postgres and Redis through tests/conformance/bridge.py

Cold: `sam local start-api` without warm containers starts a fresh container for every request, so each of
--cold requests is a cold start (container, runtime, imports, first query). Warm: `--warm-containers LAZY`
keeps the container; requests alternate between the two after a warm-up, so that drift in the machine's
load hits both alike; it prints p50/p99 for each and the sam/local ratio.

Run:  ENEO_CONFORMANCE=.eneo-conformance/config.json .venv/bin/python bench/sam_latency.py
      (make conformance writes that file and builds the images; run with Docker's engine running)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway_latency import ADMIN, PATH, SECRETS, _summary, _timed_get, local_stack  # noqa: E402

from eneo_local.parameters import local_parameters  # noqa: E402
from eneo_local.services import Endpoints  # noqa: E402
from eneo_local.template import load_template  # noqa: E402
from tests.conformance.bridge import Bridge  # noqa: E402
from tests.conformance.conftest import _free_port, bridge_gateway, remove_containers, strip_layers  # noqa: E402


def env_vars(endpoints: dict[str, str], bridge: Bridge, data_dir: Path, path: Path) -> None:
    """SAM CLI's --env-vars file: every function's variables, with the services as containers reach them."""
    inside = Endpoints(database_url=bridge.url(endpoints["database_url"]), database_migration_url="",
                       redis_url=bridge.url(endpoints["redis_url"]),
                       s3_endpoint_url=bridge.url(endpoints["s3_endpoint_url"]))
    resolved = load_template(ROOT / "template.yaml", local_parameters(inside, data_dir, env=SECRETS),
                             region=endpoints["region"])
    path.write_text(json.dumps({f.logical_id: f.environment for f in resolved.functions.values()}))


@contextlib.contextmanager
def start_api(command: list[str], env: dict[str, str], log: Path, *extra: str) -> Iterator[str]:
    """`sam local start-api` until it listens (no function is invoked to find out); its URL."""
    port = _free_port()
    with log.open("ab") as out:
        process = subprocess.Popen([*command, "--port", str(port), "--host", "127.0.0.1", *extra],  # noqa: S603
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            with contextlib.suppress(httpx.HTTPError):  # not listening yet: poll again
                httpx.get(url + "/not-a-route", timeout=5)
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"sam local start-api did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGINT)  # SAM CLI stops and removes its containers on Ctrl-C
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        remove_containers(log.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--cold", type=int, default=3)
    args = parser.parse_args()
    config_file = os.environ.get("ENEO_CONFORMANCE")
    if not config_file:
        raise SystemExit("set ENEO_CONFORMANCE to make conformance's config (.eneo-conformance/config.json)")
    config = json.loads(Path(config_file).read_text())
    os.environ |= {"ENEO_LOCAL_MODEL": "off", "ENEO_SCHEDULES": "off", "ENEO_EVENT_SOURCES": "off"}

    work = Path(tempfile.mkdtemp(prefix="eneo-bench-sam-"))
    built = Path(config["template"])
    template = yaml.safe_load(built.read_text())
    images = dict(config["images"])
    strip_layers(template)
    derived = built.with_name("template.bench.yaml")  # beside the built code: its paths are relative
    derived.write_text(yaml.safe_dump(template, sort_keys=False))
    bridge = Bridge(bridge_gateway())
    log = work / "sam.log"
    try:
        with local_stack(work) as (local_url, endpoints), httpx.Client(base_url=local_url, timeout=60) as local:
            env_vars(endpoints, bridge, work / "data", work / "env-vars.json")
            command = [config["sam"], "local", "start-api", "--template", str(derived), "--env-vars",
                       str(work / "env-vars.json"), "--skip-pull-image",
                       *[arg for name, image in images.items() for arg in ("--invoke-image", f"{name}={image}")]]
            env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {
                "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "SAM_CLI_TELEMETRY": "0",
                "AWS_DEFAULT_REGION": endpoints["region"], "AWS_REGION": endpoints["region"]}
            r = local.post("/api/v1/users/login/token/", data={"username": ADMIN[0], "password": ADMIN[1]})
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

            with start_api(command, env, log) as url, httpx.Client(base_url=url, timeout=120) as sam:
                cold = [_timed_get(sam, headers) for _ in range(args.cold)]
            print(f"cold start (a fresh container per request → 200), {args.cold} requests: median "
                  f"{statistics.median(cold):.0f} ms, min {min(cold):.0f} ms, max {max(cold):.0f} ms")

            with start_api(command, env, log, "--warm-containers", "LAZY") as url, \
                    httpx.Client(base_url=url, timeout=120) as sam:
                for _ in range(args.warmup):
                    _timed_get(local, headers)
                    _timed_get(sam, headers)
                samples: dict[str, list[float]] = {"local": [], "sam": []}
                for _ in range(args.requests):
                    samples["local"].append(_timed_get(local, headers))
                    samples["sam"].append(_timed_get(sam, headers))
    finally:
        bridge.close()
        subprocess.run(["rm", "-rf", str(work)], check=False)  # noqa: S603, S607

    stats = {name: _summary(values) for name, values in samples.items()}
    print(f"warm GET {PATH}, {args.requests} requests each, interleaved (ms)")
    for name in ("local", "sam"):
        s = stats[name]
        print(f"{name:<6} p50 {s['p50']:7.2f}  p99 {s['p99']:7.2f}  mean {s['mean']:7.2f}")
    s, b = stats["sam"], stats["local"]
    print(f"ratio sam/local: p50 {s['p50'] / b['p50']:.2f}x, p99 {s['p99'] / b['p99']:.2f}x")
    print(f"ratio cold/warm (sam): {statistics.median(cold) / s['p50']:.0f}x")


if __name__ == "__main__":
    main()
