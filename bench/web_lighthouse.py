"""Lighthouse scores (performance, accessibility, best practices) of the web client's sign-in and chat pages,
against a minimal HTML page measured by the same Lighthouse and Chromium in the same run (the ratio says
what the client costs over the least any page costs on this machine).

Lighthouse 12.2.3 (npm, pinned in bench/lighthouse/package-lock.json, installed there on first use: it is not
part of `make install` or CI) drives Debian's Chromium (/usr/bin/chromium, CHROME_PATH) headless, with its
default mobile emulation and simulated throttling (slow 4G, 4x CPU), so the figures compare with any
Lighthouse report. The pages come from `eneo-local up` serving web/build (gzip, cache headers, CSP as in
production); the baseline page from the same stack's site is not possible (it serves only the app), so it
is a one-line HTML page served by Python's http.server.

The chat page is audited signed in: each run signs in anew (`refresh_token_in=cookie`) and Lighthouse sends
that refresh cookie (`--extra-headers`), so the page's load-time refresh signs it in as a browser's would.
The median of `--runs` runs per page is reported.

Run after `make web`:  .venv/bin/python bench/web_lighthouse.py [--runs 3]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.localstack import SECRETS, local_stack  # noqa: E402
from tests.e2e.actors import PASSWORD, new_tenant  # noqa: E402

HERE = Path(__file__).resolve().parent / "lighthouse"
CLI = HERE / "node_modules" / "lighthouse" / "cli" / "index.js"
CATEGORIES = ("performance", "accessibility", "best-practices")
METRICS = ("first-contentful-paint", "largest-contentful-paint", "total-blocking-time", "speed-index")
BASELINE_HTML = ('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Baseline</title>'
                 '<meta name="viewport" content="width=device-width, initial-scale=1">'
                 '<meta name="description" content="Baseline"></head><body><main><h1>Baseline</h1>'
                 '<p>A minimal page.</p></main></body></html>')


def install() -> None:
    if not CLI.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise SystemExit("npm is needed (Node 20) to install Lighthouse in bench/lighthouse")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)  # noqa: S603 - fixed argv


def lighthouse(url: str, out: Path, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """One Lighthouse run: category scores (0-100) and the metrics (ms)."""
    command = [shutil.which("node") or "node", str(CLI), url, "--quiet", "--output=json", f"--output-path={out}",
               f"--only-categories={','.join(CATEGORIES)}",
               "--chrome-flags=--headless=new --no-sandbox --disable-gpu"]
    if headers:
        command.append(f"--extra-headers={json.dumps(headers)}")
    subprocess.run(command, check=True, env=os.environ | {"CHROME_PATH": "/usr/bin/chromium"},  # noqa: S603 - our argv
                   timeout=300)
    report = json.loads(out.read_text())
    if report.get("runtimeError"):
        raise RuntimeError(f"lighthouse on {url}: {report['runtimeError']}")
    scores = {c: round(100 * (report["categories"][c]["score"] or 0)) for c in CATEGORIES}
    metrics = {m: float(report["audits"][m]["numericValue"]) for m in METRICS}
    failed = sorted(a for c in ("accessibility", "best-practices")
                    for a in (r["id"] for r in report["categories"][c]["auditRefs"])
                    if report["audits"][a].get("score") not in (None, 1)
                    and report["audits"][a].get("scoreDisplayMode") == "binary")
    return {"scores": scores, "metrics": metrics, "failed": failed, "final_url": report.get("finalDisplayedUrl")}


def median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"scores": {c: statistics.median(r["scores"][c] for r in runs) for c in CATEGORIES},
            "metrics": {m: statistics.median(r["metrics"][m] for r in runs) for m in METRICS},
            "failed": sorted({a for r in runs for a in r["failed"]}),
            "final_url": runs[-1]["final_url"]}


def serve_baseline(folder: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    (folder / "index.html").write_text(BASELINE_HTML)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def refresh_cookie(http: httpx.Client, email: str) -> dict[str, str]:
    r = http.post("/api/v1/users/login/token/",
                  data={"username": email, "password": PASSWORD, "refresh_token_in": "cookie"})
    assert r.status_code == 200, r.text
    return {"Cookie": f"eneo_refresh={r.cookies['eneo_refresh']}"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not (ROOT / "web" / "build" / "index.html").exists():
        print("web/build is missing: run `make web` first", file=sys.stderr)
        return 1
    install()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="eneo-bench-lighthouse-") as tmp:
        work = Path(tmp)
        (work / "baseline").mkdir()
        baseline, baseline_url = serve_baseline(work / "baseline")
        try:
            with local_stack(work, {"ENEO_WEB_DIR": str(ROOT / "web" / "build")}) as stack, \
                    httpx.Client(base_url=stack.url, timeout=60) as http:
                _, admin = new_tenant(http, {"X-API-Key": SECRETS["SUPER_API_KEY"]})
                pages = {"baseline": (baseline_url, lambda: None),
                         "sign-in": (f"{stack.url}/login", lambda: None),
                         "chat": (f"{stack.url}/", lambda: refresh_cookie(http, admin.email))}
                runs: dict[str, list[dict[str, Any]]] = {name: [] for name in pages}
                for i in range(args.runs):  # pages alternate, so load drift hits each alike
                    for name, (url, headers) in pages.items():
                        runs[name].append(lighthouse(url, work / f"{name}-{i}.json", headers()))
                results = {name: median(r) for name, r in runs.items()}
        finally:
            baseline.shutdown()
    base = results["baseline"]
    print(f"Lighthouse 12.2.3, mobile emulation, simulated throttling; median of {args.runs} run(s) per page")
    print(f"{'page':10} {'perf':>5} {'a11y':>5} {'best':>5} {'FCP ms':>8} {'LCP ms':>8} {'TBT ms':>7} "
          f"{'SI ms':>7}  perf vs baseline  LCP vs baseline")
    for name, r in results.items():
        s, m = r["scores"], r["metrics"]
        print(f"{name:10} {s['performance']:>5} {s['accessibility']:>5} {s['best-practices']:>5} "
              f"{m['first-contentful-paint']:>8.0f} {m['largest-contentful-paint']:>8.0f} "
              f"{m['total-blocking-time']:>7.0f} {m['speed-index']:>7.0f}  "
              f"{s['performance'] / max(base['scores']['performance'], 1):>16.2f}x "
              f"{m['largest-contentful-paint'] / max(base['metrics']['largest-contentful-paint'], 1):>15.2f}x")
    for name, r in results.items():
        if name != "baseline":
            print(f"{name}: ended at {r['final_url']}; failed accessibility/best-practice audits: "
                  f"{', '.join(r['failed']) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
