"""Every HTTP function's answers carry the security headers, whatever the route and status (issue 11, item 10)."""

import functools
from collections.abc import Iterator
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_SECRETS
from tests.project_template import http_function_folders

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(http_function_folders().values())
CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from eneo.core.settings import get_settings

    for name, value in TEST_SECRETS.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@functools.cache
def app_of(folder: str) -> Any:
    return load_app(folder)


def load_app(folder: str) -> Any:
    spec = spec_from_file_location(f"headers_{folder}", ROOT / "functions" / folder / "app.py")
    assert spec and spec.loader
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


async def get(folder: str, path: str, base_url: str = "http://eneo.test", app: Any = None,
              **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app or app_of(folder))
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as c:
        return await c.get(path, headers=headers)


def test_every_http_function_is_covered() -> None:
    assert FUNCTIONS == ["admin", "assistants", "auth", "knowledge", "models", "privacy", "sessions", "spaces"]


@pytest.mark.parametrize("folder", FUNCTIONS)
async def test_answers_carry_the_security_headers(secrets: None, folder: str) -> None:
    ok = await get(folder, f"/api/v1/docs/{folder}/openapi.json")
    missing = await get(folder, "/api/v1/no-such-route/")
    for r in (ok, missing):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["content-security-policy"] == CSP
        assert "strict-transport-security" not in r.headers  # http (the local stack): browsers would ignore it
    assert (ok.status_code, missing.status_code) == (200, 404)


@pytest.mark.parametrize("folder", FUNCTIONS)
async def test_no_swagger_ui_page_loads_scripts_from_a_cdn(secrets: None, folder: str) -> None:
    r = await get(folder, f"/api/v1/docs/{folder}")
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"
    assert (await get(folder, "/docs/oauth2-redirect")).status_code == 404
    assert (await get(folder, f"/api/v1/docs/{folder}/openapi.json")).json()["paths"]


@pytest.mark.parametrize("folder", FUNCTIONS)
async def test_https_answers_carry_strict_transport_security(secrets: None, folder: str) -> None:
    behind_api_gateway = await get(folder, f"/api/v1/docs/{folder}/openapi.json", **{"X-Forwarded-Proto": "https"})
    direct = await get(folder, "/api/v1/no-such-route/", base_url="https://eneo.test")
    for r in (behind_api_gateway, direct):
        assert r.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


async def test_strict_transport_security_can_be_turned_off(secrets: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from eneo.core.settings import get_settings

    monkeypatch.setenv("HSTS_MAX_AGE_SECONDS", "0")
    get_settings.cache_clear()
    r = await get("auth", "/api/v1/docs/auth/openapi.json", base_url="https://eneo.test", app=load_app("auth"))
    assert "strict-transport-security" not in r.headers
