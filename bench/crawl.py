"""Crawl throughput on a site served on 127.0.0.1, against a bare httpx loop and the raw embedder on the same
pages in the same run; and the cost of a re-crawl of the unchanged site.

The pipeline: `eneo-local up` (fresh data folder; the local chat model off; OUTBOUND_ALLOWED_HOSTS=127.0.0.1 and
CRAWL_DELAY_SECONDS=0, so the site's own speed and no politeness pause is measured), one website on the
built-in all-MiniLM-L6-v2, crawled by `POST /api/v1/websites/{id}/run/`. Two clocks from that POST: until
the run is `complete` (crawled: every page fetched, extracted and stored in S3) and until every page is
`ready` (crawled and ingested: chunked and embedded). Then a second run of the unchanged site (every page
answers 304): its time until `complete`, against the first run's crawl time.

The baseline, after the stack has stopped so nothing competes for the CPU: the same URLs fetched one after
another with a bare httpx2 client, their text extracted by the same trafilatura call, chunked with the same
settings and embedded in this process in batches of EMBED_BATCH_SIZE. The ratio (pipeline seconds to
ready / baseline seconds) is the crawl and pipeline's overhead.

Run:  .venv/bin/python bench/crawl.py [--pages 40]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ingestion import VOCABULARY  # noqa: E402
from bench.localstack import local_stack, new_admin, post  # noqa: E402


class Site:
    """`pages` pages of about 300 words under navigation and a footer, linked from `/` and from each other."""

    def __init__(self, pages: int) -> None:
        rng = random.Random(7)
        self.bodies: dict[str, bytes] = {}
        links = "".join(f'<li><a href="/sida/{n}">Sida {n}</a></li>' for n in range(1, pages + 1))
        self.bodies["/"] = self._html("Start", f"<p>Kommunens sidor.</p><ul>{links}</ul>")
        for n in range(1, pages + 1):
            words = " ".join(rng.choice(VOCABULARY) for _ in range(300))
            self.bodies[f"/sida/{n}"] = self._html(f"Sida {n}", f"<p>Sida {n}. {words}.</p>"
                                                   f'<a href="/sida/{n % pages + 1}">Nästa</a>')
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                """Quiet: the site's request lines are not this run's output."""

            def do_GET(self) -> None:
                body = site.bodies.get(self.path)
                etag = f'"{hash(body)}"'
                if body is None:
                    status, body = 404, b"not found"
                elif self.headers.get("If-None-Match") == etag:
                    status, body = 304, b""
                else:
                    status = 200
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.root = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @staticmethod
    def _html(title: str, main: str) -> bytes:
        return (f"<!doctype html><html lang=sv><head><meta charset=utf-8><title>{title}</title></head><body>"
                f"<nav><a href='/'>Start</a> Om kommunen · Kontakt · Press</nav><main><h1>{title}</h1>{main}</main>"
                f"<footer>Exempelstads kommun · Stadshuset · Cookies</footer></body></html>").encode()


def _wait_run(http: httpx.Client, headers: dict[str, str], run: str) -> dict[str, Any]:
    while True:
        state: dict[str, Any] = http.get(f"/api/v1/crawl-runs/{run}/", headers=headers).json()
        if state["status"] in ("complete", "failed"):
            return state
        time.sleep(0.1)


def run_pipeline(site: Site, work: Path) -> tuple[float, float, float, dict[str, Any], dict[str, Any]]:
    """(seconds to crawled, to ready, of the re-crawl; the first and the second run)."""
    env = {"CRAWL_DELAY_SECONDS": "0", "ENEO_WORKER_ENV_PASSTHROUGH": "CRAWL_DELAY_SECONDS"}
    print("starting the local stack", file=sys.stderr)
    with local_stack(work, env) as stack, httpx.Client(base_url=stack.url, timeout=120) as http:
        admin = new_admin(http)
        space = post(http, "/api/v1/spaces/", admin, json={"name": "Bench"})["id"]
        website = post(http, f"/api/v1/spaces/{space}/knowledge/websites/", admin,
                       json={"url": site.root, "max_pages": 1000})["id"]
        print("crawling", file=sys.stderr)
        start = time.perf_counter()
        first_run = post(http, f"/api/v1/websites/{website}/run/", admin)["id"]
        first = _wait_run(http, admin, first_run)
        crawled = time.perf_counter() - start
        if first["status"] != "complete":
            raise SystemExit(f"the crawl failed: {first}")
        while True:
            state = http.get(f"/api/v1/websites/{website}/", headers=admin).json()
            if state["pages_ready"] == state["pages"] == len(site.bodies):
                break
            time.sleep(0.2)
        ready = time.perf_counter() - start
        print(f"crawled in {crawled:.1f} s, ready in {ready:.1f} s; crawling again", file=sys.stderr)
        start = time.perf_counter()
        second = _wait_run(http, admin, post(http, f"/api/v1/websites/{website}/run/", admin)["id"])
        again = time.perf_counter() - start
        return crawled, ready, again, first, second


async def _fetch_all(urls: list[str]) -> list[bytes]:
    import httpx2

    async with httpx2.AsyncClient() as client:
        return [(await client.get(url)).content for url in urls]


def run_baseline(site: Site) -> tuple[float, float, float, int]:
    """Seconds to fetch, extract + chunk, embed (one process); the chunks."""
    import trafilatura

    from eneo.core.settings import get_settings
    from eneo.embeddings import local_embedder
    from eneo.knowledge.chunking import chunk
    from eneo.knowledge.extract.types import Section

    settings = get_settings()
    urls = [site.root.rstrip("/") + path for path in site.bodies]
    start = time.perf_counter()
    bodies = asyncio.run(_fetch_all(urls))
    fetched = time.perf_counter() - start
    start = time.perf_counter()
    texts: list[str] = []
    for body in bodies:
        text = trafilatura.extract(body.decode(), favor_recall=True) or ""
        texts += [c.text for c in chunk([Section(text=text, page=None)], settings.chunk_size_tokens,
                                        settings.chunk_overlap_tokens)]
    prepared = time.perf_counter() - start
    embedder = local_embedder()
    asyncio.run(embedder.embed(texts[:4]))  # the weights loaded before the clock starts
    start = time.perf_counter()
    for i in range(0, len(texts), settings.embed_batch_size):
        asyncio.run(embedder.embed(texts[i:i + settings.embed_batch_size], purpose="document"))
    return fetched, prepared, time.perf_counter() - start, len(texts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=40)
    args = parser.parse_args(argv)
    site = Site(args.pages)
    n = len(site.bodies)
    with tempfile.TemporaryDirectory(prefix="eneo-bench-crawl-") as tmp:
        crawled, ready, again, first, second = run_pipeline(site, Path(tmp))
    fetched, prepared, embedded, chunks = run_baseline(site)
    baseline = fetched + prepared + embedded
    print(f"{n} pages of about 300 words on 127.0.0.1, all-MiniLM-L6-v2 (numpy), no politeness delay")
    print(f"{'':<44}{'seconds':>9}{'pages/s':>9}")
    print(f"{'pipeline: crawled (run complete)':<44}{crawled:>9.2f}{n / crawled:>9.2f}")
    print(f"{'pipeline: crawled and ingested (all ready)':<44}{ready:>9.2f}{n / ready:>9.2f}")
    print(f"{'baseline: bare httpx2 loop, fetch only':<44}{fetched:>9.2f}{n / fetched:>9.2f}")
    print(f"{'baseline: fetch + extract + chunk + embed':<44}{baseline:>9.2f}{n / baseline:>9.2f}"
          f"   ({chunks} chunks; embed {embedded:.2f} s)")
    print(f"crawled and ingested / baseline: {ready / baseline:.2f}x; crawl alone / bare fetch loop: "
          f"{crawled / fetched:.1f}x")
    print(f"re-crawl, nothing changed: {again:.2f} s ({second['pages_unchanged']} unchanged, "
          f"{second['pages_fetched']} fetched) = {again / crawled:.2f}x the first crawl, "
          f"{again / ready:.2f}x the first crawl and ingestion")
    if first["pages_fetched"] != n:
        print(f"note: the first run fetched {first['pages_fetched']} of {n} pages: {first}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A crawler that closes its kept-alive connection is no error worth a traceback."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]
