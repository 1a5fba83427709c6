"""Fetching one URL the way a polite crawler does, with every bound a hostile site could stretch.

* Only where the outbound rule permits (eneo.core.outbound_http's transport: loopback, link-local and private
  addresses are refused at connect time unless OUTBOUND_ALLOWED_HOSTS allows them), so a redirect or a DNS
  change cannot point the crawler inside the deployment's network.
* Redirects are followed by hand, at most `max_redirects`, and only within the site: a redirect off the site
  ends the fetch (`redirect_off_site`).
* A timeout for the whole request, and a cap on the body: a bigger one stops reading (`too_large`).
* Conditional requests: the page's ETag and Last-Modified from the last run go back as If-None-Match and
  If-Modified-Since, so an unchanged page costs a 304 and no body.
* Basic auth is sent only to the website's own host (never after a redirect elsewhere).
* One pause per host between requests (`Politeness`): the configured delay, or robots.txt's Crawl-delay.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx2

from eneo.core.outbound import refusal_in
from eneo.crawler.urls import canonical, same_site

MAX_CRAWL_DELAY = 30.0  # a Crawl-delay larger than this is held to it (a run must make progress)


@dataclass
class Fetched:
    url: str  # the final URL, after redirects (canonical)
    status: int  # 0: no HTTP answer (see `reason`)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    reason: str | None = None  # why it failed: timeout, too_large, redirect_off_site, refused, network, http_5xx…

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str | None:
        for part in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip('"').strip()
        return None


class Politeness:
    """At most one request per `delay` seconds to one host (robots.txt's Crawl-delay raises it)."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._last: dict[str, float] = {}

    def slow_down(self, delay: float | None) -> None:
        if delay is not None:
            self.delay = max(self.delay, min(delay, MAX_CRAWL_DELAY))

    async def wait(self, host: str) -> None:
        last = self._last.get(host)
        if last is not None and (pause := last + self.delay - time.monotonic()) > 0:
            await asyncio.sleep(pause)
        self._last[host] = time.monotonic()


@dataclass
class Fetcher:
    """An httpx2 client for one crawl invocation."""

    root: str  # the website's URL: what "the site" is, and the host basic auth goes to
    user_agent: str
    timeout: float
    max_bytes: int
    max_redirects: int
    auth: tuple[str, str] | None = None
    transport: Any = None  # tests and the benchmark may pass another; default: the guarded one
    client: httpx2.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        from eneo.core.outbound_http import GuardedTransport

        limits = httpx2.Limits(max_connections=4, max_keepalive_connections=4)
        self.client = httpx2.AsyncClient(transport=self.transport or GuardedTransport(limits),
                                         headers={"User-Agent": self.user_agent}, follow_redirects=False,
                                         timeout=httpx2.Timeout(self.timeout))

    async def aclose(self) -> None:
        await self.client.aclose()

    async def get(self, url: str, *, etag: str | None = None, last_modified: str | None = None) -> Fetched:
        """GET with redirects (same site only), a deadline and a size cap; never raises for the site's faults."""
        try:
            async with asyncio.timeout(self.timeout):
                return await self._get(url, etag, last_modified)
        except TimeoutError:
            return Fetched(url, 0, reason="timeout")
        except httpx2.TimeoutException:
            return Fetched(url, 0, reason="timeout")
        except Exception as exc:  # transport errors, bad URLs, refused addresses
            if refusal_in(exc) is not None:
                return Fetched(url, 0, reason="address_refused")
            return Fetched(url, 0, reason="network_error" if isinstance(exc, httpx2.HTTPError) else "fetch_error")

    async def _get(self, url: str, etag: str | None, last_modified: str | None) -> Fetched:
        current = url
        for _ in range(self.max_redirects + 1):
            headers = {}
            if etag:
                headers["If-None-Match"] = etag
            if last_modified:
                headers["If-Modified-Since"] = last_modified
            auth = httpx2.BasicAuth(*self.auth) if self.auth and same_site(current, self.root) else None
            async with self.client.stream("GET", current, headers=headers, auth=auth) as response:
                if response.status_code in (301, 302, 303, 307, 308):
                    target = canonical(response.headers.get("location", ""), current)
                    if target is None:
                        return Fetched(current, response.status_code, reason="bad_redirect")
                    if not same_site(target, self.root):
                        return Fetched(current, response.status_code, reason="redirect_off_site")
                    current = target
                    continue
                found = {k.lower(): v for k, v in response.headers.items()}
                declared = found.get("content-length", "")
                if declared.isdigit() and int(declared) > self.max_bytes:
                    return Fetched(current, response.status_code, found, reason="too_large")
                body = bytearray()
                if response.status_code == 200:
                    async for piece in response.aiter_bytes():
                        body += piece
                        if len(body) > self.max_bytes:
                            return Fetched(current, response.status_code, found, reason="too_large")
                return Fetched(current, response.status_code, found, bytes(body), _status_reason(response.status_code))
        return Fetched(current, 0, reason="too_many_redirects")


def _status_reason(status: int) -> str | None:
    if status in (200, 304):
        return None
    if status in (404, 410):
        return "gone"
    if status in (401, 403):
        return "forbidden"
    if status == 429 or status >= 500:
        return f"http_{status}"
    return f"http_{status}"
