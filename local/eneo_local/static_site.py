"""The web client (web/, built into web/build) at the API's origin: every GET outside /api/ is a file of the
build, or index.html for a path the single-page app routes itself (so a reload or a shared link works).

In AWS the same split is CloudFront's: the static-site bucket by default, /api/* to the HTTP API
(template.yaml). Here the gateway asks this module first and routes the rest as before.

Headers: hashed assets (/_app/immutable/) are cached for a year, everything else is revalidated; the HTML
gets a Content-Security-Policy that allows only this origin's scripts (plus the hashes of the inline
start-up script it carries), the WebSocket API's and storage's origins, and no framing. Text is gzipped when asked.
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import json
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from eneo_local.http_events import HttpRequest, HttpResponse

IMMUTABLE_PREFIX = "/_app/immutable/"
CONFIG_PATH = "/app-config.json"
_TYPES = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8", ".json": "application/json", ".svg": "image/svg+xml",
    ".png": "image/png", ".ico": "image/x-icon", ".webmanifest": "application/manifest+json",
    ".woff2": "font/woff2", ".txt": "text/plain; charset=utf-8", ".map": "application/json",
}
_COMPRESSIBLE = (".html", ".js", ".css", ".json", ".svg", ".txt", ".map", ".webmanifest")
# The one inline style the client has: the style attribute of SvelteKit's route announcer (a visually hidden
# live region); web/svelte.config.js names the same hash. The browser tests fail on any CSP violation.
ANNOUNCER_STYLE = "'unsafe-hashes' 'sha256-S8qMpvofolR8Mpjy4kQvEm7m1q8clzU4dfDH0AmvZjo='"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)
_NOT_BUILT = (b"<!doctype html><title>Eneo</title><p>The web client is not built. Run <code>make up</code> "
              b"(or <code>cd web &amp;&amp; npm ci &amp;&amp; npm run build</code>) and reload.</p>")
_SECURITY = [("x-content-type-options", "nosniff"), ("referrer-policy", "no-referrer"),
             ("x-frame-options", "DENY"), ("cross-origin-opener-policy", "same-origin"),
             ("permissions-policy", "camera=(), microphone=(), geolocation=()")]


class StaticSite:
    """Serves one build folder; `websocket_url` (ws://host:port/stage) is told to the client; `storage_url` is
    where presigned uploads go (the S3 endpoint), another origin the CSP must let the browser POST to."""

    def __init__(self, root: Path, websocket_url: str | None = None, storage_url: str | None = None) -> None:
        self.root = root.resolve()
        self.websocket_url = websocket_url
        self.storage_url = storage_url

    def respond(self, request: HttpRequest) -> HttpResponse | None:
        """The response for a request of the web client, or None: the API's (or API Gateway's 404)."""
        path = request.raw_path
        if request.method not in ("GET", "HEAD") or path == "/api" or path.startswith("/api/"):
            return None
        if path == CONFIG_PATH:
            return self._config(request)
        index = self.root / "index.html"
        if not index.is_file():
            return _page(503, _NOT_BUILT, request, csp="default-src 'none'")
        file = self._file(path)
        if file is None:
            if path.startswith("/_app/") or "." in path.rsplit("/", 1)[-1]:
                return _plain(404, b"Not Found")  # a missing asset is not a page: no HTML for a script tag
            file = index
        if file.suffix == ".html":
            return _page(200, file.read_bytes(), request, csp=self._csp(file, request))
        response = HttpResponse(200, [("content-type", _TYPES.get(file.suffix, "application/octet-stream")),
                                      ("cache-control", _cache(path))])
        response.headers += [h for h in _SECURITY if h[0] == "x-content-type-options"]
        _body(response, file, request)
        return response

    def _file(self, path: str) -> Path | None:
        relative = unquote(path).lstrip("/")
        if not relative or "\x00" in relative:
            return None
        candidate = (self.root / relative).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate

    def _ws_for(self, request: HttpRequest) -> str | None:
        """The WebSocket API's URL with the host the browser used (localhost or 127.0.0.1 or a LAN name)."""
        if self.websocket_url is None:
            return None
        parts = urlsplit(self.websocket_url)
        host = (request.header("host") or "").rsplit(":", 1)[0].strip("[]") or parts.hostname or "127.0.0.1"
        return f"{parts.scheme}://{host}:{parts.port}{parts.path}"

    def _config(self, request: HttpRequest) -> HttpResponse:
        body = json.dumps({"websocket_url": self._ws_for(request)}).encode()
        return HttpResponse(200, [("content-type", "application/json"), ("cache-control", "no-store"),
                                  ("x-content-type-options", "nosniff")], body)

    def _csp(self, file: Path, request: HttpRequest) -> str:
        hashes = " ".join(f"'sha256-{h}'" for h in _script_hashes(file, file.stat().st_mtime_ns))
        ws = self._ws_for(request)
        connect = " ".join(["'self'", *(_origin(url) for url in (ws, self.storage_url) if url)])
        return (f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' {ANNOUNCER_STYLE}; "
                f"img-src 'self' data:; font-src 'self'; connect-src {connect}; object-src 'none'; base-uri 'self'; "
                f"form-action 'self'; frame-ancestors 'none'")


@functools.lru_cache(maxsize=8)
def _script_hashes(file: Path, _mtime: int) -> tuple[str, ...]:
    return tuple(base64.b64encode(hashlib.sha256(m.group(1)).digest()).decode()
                 for m in _INLINE_SCRIPT.finditer(file.read_bytes()))


@functools.lru_cache(maxsize=256)
def _gzipped(file: Path, _mtime: int) -> bytes:
    return gzip.compress(file.read_bytes(), compresslevel=9, mtime=0)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _cache(path: str) -> str:
    return "public, max-age=31536000, immutable" if path.startswith(IMMUTABLE_PREFIX) else "no-cache"


def _accepts_gzip(request: HttpRequest) -> bool:
    return "gzip" in (request.header("accept-encoding") or "").lower()


def _body(response: HttpResponse, file: Path, request: HttpRequest) -> None:
    if file.suffix in _COMPRESSIBLE and _accepts_gzip(request):
        response.body = _gzipped(file, file.stat().st_mtime_ns)
        response.headers += [("content-encoding", "gzip"), ("vary", "Accept-Encoding")]
    else:
        response.body = file.read_bytes()


def _page(status: int, html: bytes, request: HttpRequest, *, csp: str) -> HttpResponse:
    response = HttpResponse(status, [("content-type", _TYPES[".html"]), ("cache-control", "no-cache"),
                                     ("content-security-policy", csp), *_SECURITY])
    if _accepts_gzip(request):
        response.body = gzip.compress(html, mtime=0)
        response.headers += [("content-encoding", "gzip"), ("vary", "Accept-Encoding")]
    else:
        response.body = html
    return response


def _plain(status: int, text: bytes) -> HttpResponse:
    return HttpResponse(status, [("content-type", "text/plain; charset=utf-8"), ("cache-control", "no-cache"),
                                 ("x-content-type-options", "nosniff")], text)
