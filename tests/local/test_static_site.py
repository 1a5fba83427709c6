"""The web client at the gateway's origin: files of the build, index.html for the app's own routes, the API
untouched, and the headers a browser acts on (types, caching, CSP). A build folder made here stands in
for web/build, so these tests need no npm."""

import base64
import gzip
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from eneo_local.gateway import Gateway
from eneo_local.static_site import StaticSite
from eneo_local.template import load_template
from eneo_local.workers import FunctionHost

FIXTURES = Path(__file__).parent / "fixtures"
INLINE = b"\n\t\t\t\t{ __sveltekit_x = { base: \"\" }; }\n\t\t\t"
INDEX = b"<!doctype html><html><head></head><body><div><script>" + INLINE + b"</script></div></body></html>"
WS = "ws://127.0.0.1:8001/live"


@pytest.fixture
def build(tmp_path: Path) -> Path:
    (tmp_path / "_app/immutable/entry").mkdir(parents=True)
    (tmp_path / "_app/immutable/entry/start.Ab12.js").write_text("export const x = 1;\n" * 50)
    (tmp_path / "_app/immutable/app.C3.css").write_text("body{color:red}")
    (tmp_path / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (tmp_path / "index.html").write_bytes(INDEX)
    (tmp_path.parent / "secret.txt").write_text("outside the build")
    return tmp_path


@pytest.fixture
async def client(build: Path) -> AsyncIterator[httpx.AsyncClient]:
    template = load_template(FIXTURES / "template.yaml", {"Secret": "s3cret-value"}, stack_name="t")
    functions = FunctionHost(template, {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"})
    gateway = Gateway(template, functions, static=StaticSite(build, WS, "http://127.0.0.1:9000"))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway),
                                     base_url="http://localhost:8000") as c:
            yield c
    finally:
        await functions.close()


async def test_app_routes_get_index_html_with_a_strict_csp(client: httpx.AsyncClient) -> None:
    for path in ("/", "/login", "/login?next=%2F", "/spaces/abc/assistants"):
        r = await client.get(path)
        assert r.status_code == 200, path
        assert r.content == INDEX
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        assert r.headers["cache-control"] == "no-cache"
    csp = r.headers["content-security-policy"]
    digest = base64.b64encode(hashlib.sha256(INLINE).digest()).decode()
    assert f"script-src 'self' 'sha256-{digest}';" in csp  # the inline start-up script, nothing else inline
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    # the WebSocket API at the host the browser used, and storage, where presigned uploads are POSTed
    assert "connect-src 'self' ws://localhost:8001 http://127.0.0.1:9000;" in csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"


async def test_hashed_assets_are_cached_for_a_year_with_their_type(client: httpx.AsyncClient) -> None:
    r = await client.get("/_app/immutable/entry/start.Ab12.js")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["content-encoding"] == "gzip"  # httpx asked for it and unpacked it
    assert r.text.startswith("export const x")
    css = await client.get("/_app/immutable/app.C3.css")
    assert (css.headers["content-type"], css.text) == ("text/css; charset=utf-8", "body{color:red}")
    icon = await client.get("/favicon.svg")
    assert (icon.headers["content-type"], icon.headers["cache-control"]) == ("image/svg+xml", "no-cache")


async def test_gzip_only_when_asked(client: httpx.AsyncClient) -> None:
    plain = await client.get("/_app/immutable/entry/start.Ab12.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    packed = await client.get("/_app/immutable/entry/start.Ab12.js", headers={"Accept-Encoding": "gzip"})
    assert int(packed.headers["content-length"]) < len(plain.content)
    assert gzip.decompress(gzip.compress(plain.content)) == plain.content


async def test_a_missing_asset_is_404_not_the_page(client: httpx.AsyncClient) -> None:
    for path in ("/_app/immutable/entry/gone.js", "/robots.txt", "/_app/version.json"):
        r = await client.get(path)
        assert r.status_code == 404, path
        assert b"<html" not in r.content


async def test_no_file_outside_the_build(client: httpx.AsyncClient) -> None:
    for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/_app/%2e%2e/%2e%2e/secret.txt"):
        r = await client.get(path)
        assert b"outside the build" not in r.content, path


async def test_the_api_and_other_methods_go_to_the_routes(client: httpx.AsyncClient) -> None:
    # The fixture's template sends every path to its echo function: the request reached it, as it was.
    r = await client.get("/api/v1/anything")
    assert (r.status_code, r.json()["event"]["rawPath"]) == (200, "/api/v1/anything")
    r = await client.post("/login")  # only GET and HEAD are the site's
    assert (r.status_code, r.json()["event"]["requestContext"]["http"]["method"]) == (200, "POST")


async def test_config_tells_the_websocket_url(client: httpx.AsyncClient) -> None:
    r = await client.get("/app-config.json")
    assert r.json() == {"websocket_url": "ws://localhost:8001/live"}
    assert r.headers["cache-control"] == "no-store"


async def test_unbuilt_client_says_how_to_build_it(tmp_path: Path) -> None:
    template = load_template(FIXTURES / "template.yaml", {"Secret": "s3cret-value"}, stack_name="t")
    gateway = Gateway(template, FunctionHost(template, {}), static=StaticSite(tmp_path / "missing", WS))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=gateway), base_url="http://localhost") as c:
        r = await c.get("/")
    assert r.status_code == 503
    assert "make up" in r.text
