"""The error shape every function answers with, checked on a tiny app built by the same factory."""

from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Form
from pydantic import BaseModel

from eneo.core.errors import NotFound
from eneo.core.http import create_app

router = APIRouter(prefix="/api/v1/things")


class Thing(BaseModel):
    name: str
    count: int


@router.post("/")
async def make(thing: Thing) -> Thing:
    return thing


@router.post("/form/")
async def form(name: Annotated[str, Form()]) -> str:
    return name


@router.get("/missing/")
async def missing() -> None:
    raise NotFound("Thing")


@router.get("/boom/")
async def boom() -> None:
    raise RuntimeError("secret detail that must not leak")


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> httpx.AsyncClient:
    from eneo.core.settings import get_settings

    monkeypatch.setenv("JWT_SECRET", "x" * 40)
    monkeypatch.setenv("SUPER_API_KEY", "y" * 40)
    monkeypatch.setenv("ENCRYPTION_KEY", "z" * 40)
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    get_settings.cache_clear()
    app = create_app("things", [router])
    get_settings.cache_clear()
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_validation_error_names_the_field(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/things/", json={"name": "x", "count": "many"})
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "validation_error"
    assert [d["field"] for d in body["details"]] == ["count"]
    assert "count" in body["message"]
    assert body["request_id"] == r.headers["x-request-id"]


async def test_app_error_keeps_its_code_and_status(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/things/missing/", headers={"X-Request-Id": "abc-123"})
    assert (r.status_code, r.json()["code"], r.json()["message"]) == (404, "not_found", "Thing not found")
    assert r.json()["request_id"] == "abc-123" == r.headers["x-request-id"]


async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/nothing/")
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    r = await client.delete("/api/v1/things/")
    assert (r.status_code, r.json()["code"]) == (405, "method_not_allowed")


async def test_unhandled_error_is_a_500_without_internals(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/things/boom/")
    assert r.status_code == 500
    assert r.json()["code"] == "internal_error"
    assert "secret detail" not in r.text


async def test_path_without_trailing_slash_is_served_without_redirect(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/things", json={"name": "x", "count": 2})
    assert r.status_code == 200 and r.json() == {"name": "x", "count": 2}


async def test_malformed_json_is_a_validation_error(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/things/", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"


async def test_each_request_logs_one_json_line_with_its_request_id(client: httpx.AsyncClient,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    import json

    await client.get("/api/v1/things/missing/", headers={"X-Request-Id": "log-me-1", "Authorization": "Bearer s3cr3t"})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    access = [e for e in lines if e["message"] == "request"]
    assert len(access) == 1
    assert access[0]["request_id"] == "log-me-1"
    assert (access[0]["status"], access[0]["path"], access[0]["service"]) == (404, "/api/v1/things/missing/", "things")
    assert "s3cr3t" not in json.dumps(lines)


async def test_answers_are_not_cached_or_sniffed(client: httpx.AsyncClient) -> None:
    for r in (await client.post("/api/v1/things/", json={"name": "x", "count": 1}),
              await client.get("/api/v1/things/missing/")):
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(("body", "reason"), [
    (b"\xff\xfe\x00", "not UTF-8"),  # read as UTF-16 by json.loads, which then fails to decode
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
])
async def test_a_json_body_that_cannot_be_read_is_a_422_like_any_other_bad_json(client: httpx.AsyncClient,
                                                                                body: bytes, reason: str) -> None:
    r = await client.post("/api/v1/things/", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert (r.json()["code"], r.json()["details"][0]["type"]) == ("validation_error", "json_invalid")
    assert reason in r.json()["message"]


async def test_a_multipart_body_that_cannot_be_parsed_is_a_400_saying_why(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/v1/things/form/", content=b"[", headers={"Content-Type": "multipart/form-data"})
    assert r.status_code == 400, r.text
    assert (r.json()["code"], r.json()["message"]) == ("malformed_body", "Missing boundary in multipart.")
