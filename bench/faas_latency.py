"""An HTTP function in its OpenFaaS image (a Docker container) vs the local stack, in the same run.

`GET /api/v1/spaces/` as a logged-in user, against the same embedded Postgres and Redis:

* local:     client → eneo-local's gateway → warm worker process → Mangum → app (the baseline)
* container: client → the spaces image's server (eneo_local.faas, payload v2.0 event) → Mangum → app,
             in a container on a user-defined network that reaches Postgres and Redis through bridge.py

Cold: `docker run` until the first 200 answer, for fresh containers (median of --cold). Warm: requests
alternate between the two after a warm-up, so that drift in the machine's load hits both alike; it prints
p50/p99 for each and the container/local ratio.

Run:  ENEO_FAAS=.eneo-faas/config.json .venv/bin/python bench/faas_latency.py  (make faas-test writes it)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway_latency import ADMIN, PATH, SECRETS, _summary, _timed_get, local_stack  # noqa: E402

from eneo_local.parameters import local_parameters  # noqa: E402
from eneo_local.services import Endpoints  # noqa: E402
from eneo_local.template import load_template  # noqa: E402
from tests.conformance.bridge import Bridge  # noqa: E402
from tests.faas.conftest import docker, start_container  # noqa: E402


def container_env(endpoints: dict[str, str], bridge: Bridge, data_dir: Path) -> dict[str, str]:
    inside = Endpoints(database_url=bridge.url(endpoints["database_url"]), database_migration_url="",
                       redis_url=bridge.url(endpoints["redis_url"]),
                       s3_endpoint_url=bridge.url(endpoints["s3_endpoint_url"]))
    parameters = local_parameters(inside, data_dir, env=SECRETS)
    spec = load_template(ROOT / "template.yaml", parameters, region=endpoints["region"]).functions["SpacesFunction"]
    return dict(spec.environment) | {"ENEO_EVENT": "http", "AWS_LAMBDA_FUNCTION_NAME": "spaces",
                                     "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout), "WS_FUNCTION_NAME": ""}


def cold_start(image: str, network: str, env: dict[str, str], headers: dict[str, str], n: int) -> str:
    """docker run → first 200 answer; returns that container's URL (kept for the warm part)."""
    seconds: list[float] = []
    url = ""
    for i in range(n):
        name = f"{network}-spaces-{i}"
        t0 = time.perf_counter()
        address = start_container(image, name, network, env)
        url = f"http://{address}:8080"
        while True:
            with contextlib.suppress(httpx.HTTPError):  # not listening yet: poll again
                if httpx.get(url + PATH, headers=headers, timeout=5).status_code == 200:
                    break
            if time.perf_counter() - t0 > 120:
                raise SystemExit(f"{name} never answered:\n{docker('logs', '--tail', '30', name, check=False)}")
            time.sleep(0.05)
        seconds.append(time.perf_counter() - t0)
        if i < n - 1:
            docker("rm", "--force", name, check=False)
    print(f"cold start (docker run → first 200), {n} containers: median {statistics.median(seconds):.2f} s, "
          f"min {min(seconds):.2f} s, max {max(seconds):.2f} s")
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--cold", type=int, default=3)
    args = parser.parse_args()
    config = os.environ.get("ENEO_FAAS")
    if not config:
        raise SystemExit("set ENEO_FAAS to the images' config (make faas-test writes .eneo-faas/config.json)")
    image = json.loads(Path(config).read_text())["images"]["spaces"]
    # The local stack serves HTTP only here: no chat model, schedules or queue consumers to start (a loaded
    # machine would otherwise take longer than gateway_latency's 90 s to be ready).
    os.environ |= {"ENEO_LOCAL_MODEL": "off", "ENEO_SCHEDULES": "off", "ENEO_EVENT_SOURCES": "off"}

    work = Path(tempfile.mkdtemp(prefix="eneo-bench-faas-"))
    network = f"eneo-faas-bench-{os.getpid()}"
    docker("network", "create", network)
    bridge = Bridge(docker("network", "inspect", network, "--format", "{{(index .IPAM.Config 0).Gateway}}"))
    try:
        with local_stack(work) as (local_url, endpoints), httpx.Client(base_url=local_url, timeout=30) as local:
            r = local.post("/api/v1/users/login/token/", data={"username": ADMIN[0], "password": ADMIN[1]})
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            url = cold_start(image, network, container_env(endpoints, bridge, work / "data"), headers, args.cold)
            with httpx.Client(base_url=url, timeout=30) as container:
                for _ in range(args.warmup):
                    _timed_get(local, headers)
                    _timed_get(container, headers)
                samples: dict[str, list[float]] = {"local": [], "container": []}
                for _ in range(args.requests):
                    samples["local"].append(_timed_get(local, headers))
                    samples["container"].append(_timed_get(container, headers))
    finally:
        names = docker("ps", "--all", "--filter", f"name={network}-", "--format", "{{.Names}}", check=False).split()
        if names:
            docker("rm", "--force", *names, check=False)
        bridge.close()
        docker("network", "rm", network, check=False)
        subprocess.run(["rm", "-rf", str(work)], check=False)  # noqa: S603, S607

    stats = {name: _summary(values) for name, values in samples.items()}
    print(f"warm GET {PATH}, {args.requests} requests each, interleaved (ms)")
    for name in ("local", "container"):
        s = stats[name]
        print(f"{name:<10} p50 {s['p50']:7.2f}  p99 {s['p99']:7.2f}  mean {s['mean']:7.2f}")
    c, b = stats["container"], stats["local"]
    print(f"ratio container/local: p50 {c['p50'] / b['p50']:.2f}x, p99 {c['p99'] / b['p99']:.2f}x")


if __name__ == "__main__":
    main()
