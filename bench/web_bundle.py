"""JavaScript and CSS a browser downloads for the first load of the chat page, in gzip bytes (aim: < 150 KB).

Headless Chromium (Debian's /usr/bin/chromium via Playwright) opens `/` of web/build, served by the local
stack's own static module (eneo_local.static_site, gzip level 9 as the stack sends it), with a stored
sign-in so the chat page itself loads rather than a redirect. Every script and stylesheet response of that
load is counted: its body gzipped (level 9) and the bytes that crossed the wire. No API is running: the
page's API calls fail, which changes nothing in what it downloads first.

Run after `make web`:  .venv/bin/python bench/web_bundle.py
"""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright

from eneo_local.gateway import GatewayServer, read_body
from eneo_local.http_events import HttpRequest
from eneo_local.static_site import StaticSite

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "web" / "build"
AIM = 150 * 1024


def site_app(site: StaticSite) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await read_body(receive, 1 << 20)
        request = HttpRequest(scope["method"], scope["path"], "", [
            (k.decode(), v.decode()) for k, v in scope["headers"]], b"", "127.0.0.1")
        response = site.respond(request)
        status, headers, body = (response.status, response.headers, response.body) if response else (404, [], b"")
        await send({"type": "http.response.start", "status": status,
                    "headers": [(k.encode(), v.encode()) for k, v in headers]
                    + [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
    return app


async def sign_in_by_refresh(context: Any, token: str) -> None:
    """The client keeps its access token in memory and signs in on load with the refresh cookie
    (docs/web.md); here the refresh answers with `token` (the bench serves no API, or has its token)."""
    body = {"access_token": token, "token_type": "bearer", "expires_in": 3600, "refresh_token": None,
            "refresh_expires_in": 3600}

    async def answer(route: Any) -> None:
        await route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    await context.route("**/api/v1/users/login/refresh/", answer)


async def main() -> int:
    if not (BUILD / "index.html").exists():
        print("web/build is missing: run `make web` first", file=sys.stderr)
        return 1
    server = GatewayServer(port=0)
    url = await server.start(site_app(StaticSite(BUILD, None)))
    rows: list[tuple[str, str, int, int]] = []
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            context = await browser.new_context()
            await sign_in_by_refresh(context, "bench")
            page = await context.new_page()
            responses: list[Any] = []
            page.on("response", lambda r: responses.append(r))
            await page.goto(url + "/", wait_until="networkidle")
            assert await page.locator("#question").count() == 1, "the chat page did not load"
            for r in responses:
                kind = r.request.resource_type
                if kind not in ("script", "stylesheet"):
                    continue
                body = await r.body()
                sizes = await r.request.sizes()
                rows.append((kind, r.url.removeprefix(url), len(gzip.compress(body, 9)), sizes["responseBodySize"]))
            await browser.close()
    finally:
        await server.stop()
    print(f"{'kind':<11} {'gzip -9':>8} {'on wire':>8}  file")
    for kind, name, gz, wire in sorted(rows, key=lambda r: -r[2]):
        print(f"{kind:<11} {gz:>8} {wire:>8}  {name}")
    js = sum(r[2] for r in rows if r[0] == "script")
    css = sum(r[2] for r in rows if r[0] == "stylesheet")
    print(f"first load of the chat page: {len(rows)} files, JS {js / 1024:.1f} KB + CSS {css / 1024:.1f} KB gzip = "
          f"{(js + css) / 1024:.1f} KB; aim < {AIM // 1024} KB: {(js + css) / AIM:.2f}x of it")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
