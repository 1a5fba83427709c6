"""A municipality's web site for the crawler's tests, served on 127.0.0.1 by a thread of the test process.

What it holds (`pages()` lists the pages a crawl must store): many pages with navigation and a footer around
their main text, a sitemap, robots.txt rules (a disallowed section, a Crawl-delay, the sitemap), a link loop,
a redirect off the site, a huge page, a slow page, non-HTML files (a PDF, a binary), a page that changes
between versions of the site, one that disappears, a section behind basic auth, and the same page under a
tracking parameter (its canonical link names the real one). ETags make unchanged pages answer 304.
`version` switches the site's content; `down` makes every request fail with 503.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PDF = (Path(__file__).resolve().parents[1] / "fixtures" / "documents" / "riktlinjer.pdf").read_bytes()
PAGES = 12
CRAWL_DELAY = 0.2
USER, PASSWORD = "medlem", "hemligt-lösen"
TOPICS = ["bygglov", "förskola", "avfall", "parkering", "bibliotek", "simhall", "äldreomsorg", "snöröjning",
          "vatten", "valet", "kollektivtrafik", "föreningsbidrag"]


class FakeSite:
    def __init__(self, *, slow_seconds: float = 3.0, huge_bytes: int = 3 * 1024 * 1024) -> None:
        self.version = 1
        self.down = False
        self.slow_seconds, self.huge_bytes = slow_seconds, huge_bytes
        self.requests: list[tuple[float, str, dict[str, str]]] = []  # (time, path, headers)
        self._lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                """Quiet: the site's request lines are not this run's output."""

            def do_GET(self) -> None:
                with site._lock:
                    site.requests.append((time.monotonic(), self.path, dict(self.headers.items())))
                site._serve(self)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.root = f"http://127.0.0.1:{self.port}/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeSite:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def paths_requested(self) -> list[str]:
        with self._lock:
            return [p for _, p, _ in self.requests]

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    # --- what the crawl must store ---

    def pages(self, *, files: bool = True, auth: bool = True) -> set[str]:
        """The URLs a complete crawl of this version stores (with linked files, with basic auth)."""
        found = {"/", *(f"/page/{n}" for n in range(1, PAGES + 1)), "/loop/a", "/loop/b", "/changing"}
        if self.version == 1:
            found.add("/vanishing")
        if files:
            found.add("/files/riktlinjer.pdf")
        if auth:
            found.add("/members/")
        return {self.url(p) for p in found}

    # --- serving ---

    def _html(self, title: str, body: str, canonical: str | None = None) -> bytes:
        head = f"<title>{title} | Exempelstad</title>"
        if canonical:
            head += f'<link rel="canonical" href="{canonical}">'
        nav = ('<nav><a href="/">Start</a> <a href="/page/1">Bygglov</a> <a href="/loop/a">Runt</a> '
               '<a href="/private/secret">Internt</a> <a href="mailto:info@exempelstad.se">Mejla</a></nav>')
        footer = "<footer>Exempelstads kommun · Stadshuset · Telefon 000-000 00 · Cookies</footer>"
        return (f"<!doctype html><html lang=sv><head><meta charset=utf-8>{head}</head><body>{nav}"
                f"<main><h1>{title}</h1>{body}</main>{footer}</body></html>").encode()

    def _page_text(self, n: int) -> str:
        topic = TOPICS[(n - 1) % len(TOPICS)]
        return (f"<p>Sidan {n} handlar om {topic} i Exempelstad. Kommunen beskriver här hur du ansöker om "
                f"{topic}, vilka regler som gäller och vem du kontaktar. Handläggningen av {topic} tar normalt "
                f"{n + 2} veckor, och beslutet skickas med post.</p>")

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        if self.down:
            return self._send(h, 503, b"down for maintenance", "text/plain")
        path = h.path
        if path == "/robots.txt":
            text = (f"User-agent: *\nDisallow: /private/\nCrawl-delay: {CRAWL_DELAY}\n"
                    f"Sitemap: {self.url('/sitemap.xml')}\n")
            return self._send(h, 200, text.encode(), "text/plain")
        if path == "/sitemap.xml":
            urls = "".join(f"<url><loc>{self.url(f'/page/{n}')}</loc></url>" for n in range(1, PAGES + 1))
            urls += f"<url><loc>{self.url('/changing')}</loc></url>"
            xml = f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'
            return self._send(h, 200, xml.encode(), "application/xml")
        if path == "/":
            links = "".join(f'<li><a href="/page/{n}">Sida {n}</a></li>' for n in range(1, PAGES + 1))
            links += ('<li><a href="/page/1?utm_source=nyhetsbrev">Bygglov (från nyhetsbrevet)</a></li>'
                      '<li><a href="/page/2#kontakt">Förskola, kontakt</a></li>'
                      '<li><a href="/redirect-off">Vår partner</a></li><li><a href="/huge">Arkivet</a></li>'
                      '<li><a href="/slow">Den långsamma tjänsten</a></li>'
                      '<li><a href="/files/riktlinjer.pdf">Riktlinjer (PDF)</a></li>'
                      '<li><a href="/files/data.bin">Rådata</a></li><li><a href="/members/">Medlemmar</a></li>'
                      '<li><a href="/changing">Aktuellt</a></li><li><a href="/vanishing">Tillfälligt</a></li>'
                      '<li><a href="http://example.com/">En annan webbplats</a></li>')
            return self._etagged(h, self._html("Välkommen till Exempelstad",
                                               f"<p>Här finns kommunens information om tjänster för invånare, "
                                               f"företag och besökare.</p><ul>{links}</ul>"))
        if path.startswith("/page/"):
            number = path.split("/")[2].split("?")[0]
            if not number.isdigit() or not 1 <= int(number) <= PAGES:
                return self._send(h, 404, b"not found", "text/plain")
            n = int(number)
            more = f'<p><a href="/page/{n + 1}">Nästa sida</a></p>' if n < PAGES else ""
            return self._etagged(h, self._html(f"Sida {n}: {TOPICS[(n - 1) % len(TOPICS)]}",
                                               self._page_text(n) + more, canonical=self.url(f"/page/{n}")))
        if path.split("?")[0] in ("/loop/a", "/loop/b"):  # ?igen=1 is the same page: its canonical says so
            here = path.split("?")[0]
            other = "/loop/b" if here == "/loop/a" else "/loop/a"
            return self._etagged(h, self._html(f"Rundgång {here[-1]}", f"<p>Rundgången {here[-1]} leder vidare "
                                               f"till nästa del av rundgången genom stadens parker.</p>"
                                               f'<a href="{other}">Vidare</a> <a href="{here}?igen=1#topp">Igen</a>',
                                               canonical=self.url(here)))
        if path == "/redirect-off":
            return self._send(h, 302, b"", "text/plain", {"Location": f"http://localhost:{self.port}/elsewhere"})
        if path == "/huge":
            return self._send(h, 200, b"<html><body><p>" + b"x" * self.huge_bytes + b"</p></body></html>",
                              "text/html")
        if path == "/slow":
            time.sleep(self.slow_seconds)
            return self._etagged(h, self._html("Långsam", "<p>Äntligen.</p>"))
        if path == "/files/riktlinjer.pdf":
            return self._etagged(h, PDF, "application/pdf")
        if path == "/files/data.bin":
            return self._send(h, 200, bytes(range(256)) * 8, "application/octet-stream")
        if path.startswith("/private/"):
            return self._etagged(h, self._html("Internt", "<p>Bara för personalen: lönelistor.</p>"))
        if path == "/members/":
            expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            if h.headers.get("Authorization") != expected:
                return self._send(h, 401, b"login required", "text/plain", {"WWW-Authenticate": 'Basic realm="m"'})
            return self._etagged(h, self._html("Medlemssidan", "<p>Föreningens medlemmar möts varje tisdag i "
                                               "Folkets hus för att planera vårens arbete i parkerna.</p>"))
        if path == "/changing":
            text = ("<p>Aktuellt: simhallen är stängd för renovering hela vintern, och öppnar igen i mars.</p>"
                    if self.version == 1 else
                    "<p>Aktuellt: simhallen har öppnat igen efter renoveringen, med ny bastu och längre "
                    "öppettider på helgerna.</p>")
            return self._etagged(h, self._html("Aktuellt", text))
        if path == "/vanishing":
            if self.version != 1:
                return self._send(h, 404, b"gone", "text/plain")
            return self._etagged(h, self._html("Tillfälligt", "<p>En tillfällig sida om sommarens "
                                               "evenemang i hamnen, som tas bort till hösten.</p>"))
        return self._send(h, 404, b"not found", "text/plain")

    def _etagged(self, h: BaseHTTPRequestHandler, body: bytes, content_type: str = "text/html; charset=utf-8"
                 ) -> None:
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if h.headers.get("If-None-Match") == etag:
            return self._send(h, 304, b"", None, {"ETag": etag})
        return self._send(h, 200, body, content_type, {"ETag": etag})

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str | None,
              headers: dict[str, str] | None = None) -> None:
        h.send_response(status)
        if content_type:
            h.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            h.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        """A crawler that closes its kept-alive connection is no error worth a traceback."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]
