"""Every HTTP route probed the way outside checkers probe it, from each function's own OpenAPI schema.

Requests are drawn with Hypothesis (hypothesis-jsonschema turns the schema's bodies and parameters into data)
and then spoiled: NUL bytes, lone surrogates and right-to-left marks in strings, malformed JSON, the wrong
Content-Type, unknown and other tenants' ids, negative and huge page sizes, garbage cursors. A tenant admin
sends them in-process to the functions, routed by template.yaml. What a checker would hold against us:
a 5xx, an answer that does not come, an error outside the `{code, message, details, request_id}` shape or with
the catch-all code, a 2xx that breaks its own declared schema, or another tenant's id answered otherwise than an
unknown id (so telling that it exists).

Deterministic and bounded: the examples are drawn once, derandomized, `EXAMPLES` per operation, before any is
sent (no shrinking; the failure list names the request instead).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema
import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from eneo.core.settings import get_settings
from eneo.sessions.api import get_invoker
from tests.fakes.llm_server import FakeLLMServer
from tests.integration import pipeline
from tests.integration.conftest import PASSWORD, FunctionApps, Member, Org
from tests.integration.pipeline import Queues, queues  # noqa: F401 - fixture
from tests.integration.test_websites import crawl_queue, personal_space  # noqa: F401 - fixture
from tests.project_template import http_function_folders

# Per operation: ~145 operations, ~1,100 requests, 15-40 s on two cores. Deeper: API_FUZZ_EXAMPLES=100 (~2 min).
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "8"))
SEED = int(os.environ["API_FUZZ_SEED"]) if os.environ.get("API_FUZZ_SEED") else None  # other examples than the CI's
ANSWER_WITHIN = 15.0  # seconds; longer is a hang
SPOILED = ["\x00", "a\x00b", "\ud800", "x\udfffy", "\u202eevil\u202c", "\u200f\u200e", "", " ", "😀" * 3,
           "x" * 20_000, "null", "-1", "'; DROP TABLE users; --", "../../etc/passwd", "%00", "\\u0000"]
# Path segments as a client puts them on the wire (already escaped): lone surrogates, NUL, dots, overlong.
RAW_SEGMENTS = ["%00", "%ED%A0%80", "%C0%AF", "%2e%2e", "-1", "0", "9" * 40, "x" * 300, "%E2%80%AE",
                "00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff", "null", "%20"]
QUERY_VALUES = ["-1", "0", "1", "-99999999999999999999", "99999999999999999999", "1e309", "NaN", "abc", "\x00",
                "%", "true", "", "x" * 5000, "eyJpZCI6IDF9", "Zm9v\x00", "2024-13-45", "0001-01-01T00:00:00"]
HEADER_VALUES = ["", " ", "x" * 8000, "-1", "0-0", "1700000000000-0", "99999999999999999999-99", "\u00ff\u00fe", "a,b"]
MALFORMED = [b"", b"{", b"[", b"null", b"0", b'"x"', b'{"a":', b"\xff\xfe\x00", b"{}" * 10_000, b'{"\x00": 1}',
             b"[" * 5_000 + b"]" * 5_000, b'{"name": "\\ud800"}', b'{"name": "a\\u0000b"}']
CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded", "application/xml", ""]
ERROR_KEYS = {"code", "message", "details", "request_id"}
UNKNOWN = "7e57a11e-0000-4000-8000-000000000000"  # an id no tenant has
METHOD_ORDER = {"get": 0, "post": 1, "put": 2, "patch": 3, "delete": 4}  # deletes last: they remove the pools

settings_restored = pipeline.settings_restored  # autouse: the probe's settings end with it


@dataclass(frozen=True)
class Operation:
    function: str
    method: str
    path: str
    spec: dict[str, Any]
    components: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.method.upper()} {self.path}"


def operations() -> list[Operation]:
    """Every operation of every HTTP function's OpenAPI document."""
    apps = FunctionApps()
    found = []
    for function in http_function_folders():
        document = apps[function].openapi()
        for path, item in document["paths"].items():
            found += [Operation(function, method, path, spec, document.get("components", {}))
                      for method, spec in item.items() if method in METHOD_ORDER]
    return sorted(found, key=lambda o: (METHOD_ORDER[o.method], o.path))


def _with_components(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """The schema as a root document in which `#/components/...` references resolve."""
    return {**schema, "components": components}


def _strings(value: Any) -> int:
    if isinstance(value, str):
        return 1
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    return sum(_strings(v) for v in children)


def _spoil(value: Any, bad: str, index: int) -> Any:
    """`value` with one of its strings (the index-th depth first, modulo their number) replaced by `bad`."""
    target, seen = index % max(_strings(value), 1), -1

    def walk(v: Any) -> Any:
        nonlocal seen
        if isinstance(v, str):
            seen += 1
            return bad if seen == target else v
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        return [walk(x) for x in v] if isinstance(v, list) else v

    return walk(value)


def _wire(text: str) -> bytes:
    """The bytes a client would send for `text`; a lone surrogate as its three UTF-8-like bytes."""
    return text.encode("utf-8", "surrogatepass")


def _quoted(text: str) -> str:
    return quote(_wire(text), safe="")


def _schema_values(schema: dict[str, Any], components: dict[str, Any]) -> st.SearchStrategy[Any]:
    try:
        return from_schema(_with_components(schema, components))
    except Exception:  # a schema hypothesis-jsonschema cannot draw from (recursive references): any JSON
        return st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=3), max_leaves=8)


@dataclass
class Request:
    method: str
    url: str
    headers: dict[str, bytes] = field(default_factory=dict)
    content: bytes | None = None
    files: dict[str, Any] | None = None
    data: dict[str, Any] | None = None
    unknown_twin: str | None = None  # names another tenant's object: the url with an unknown id instead


def _body(op: Operation) -> st.SearchStrategy[dict[str, Any]]:
    """How the request carries its body: drawn from the schema (whole or spoiled), any JSON, or malformed."""
    content = (op.spec.get("requestBody") or {}).get("content") or {}
    if "multipart/form-data" in content:
        form = content["multipart/form-data"]["schema"]
        files = st.tuples(st.sampled_from(["a.pdf", "a.docx", "a.txt", "a.png", "x", "\u202egpj.exe", "a\x00.txt"]),
                          st.binary(max_size=64) | st.sampled_from(MALFORMED),
                          st.sampled_from(["application/pdf", "text/plain", "application/octet-stream", "image/png",
                                           "x/y", ""]))
        fields = _schema_values(form, op.components).map(
            lambda v: {k: _wire(str(x)) for k, x in v.items() if k != "file"} if isinstance(v, dict) else {})
        return st.one_of(st.builds(lambda f, d: {"files": {"file": f}, "data": d}, files, fields),
                         st.builds(lambda d: {"data": d}, fields),
                         st.sampled_from(MALFORMED).map(lambda b: {"content": b, "type": "multipart/form-data"}))
    if "application/x-www-form-urlencoded" in content:
        form = st.dictionaries(st.sampled_from(["username", "password", "grant_type", "x"]),
                               st.sampled_from([*SPOILED[:12], "a@b.c"]), max_size=3)
        return form.map(lambda d: {"content": "&".join(f"{k}={_quoted(v)}" for k, v in d.items()).encode(),
                                   "type": "application/x-www-form-urlencoded"})
    schema = (content.get("application/json") or {}).get("schema")
    if schema is None:
        return st.just({})
    drawn = _schema_values(schema, op.components)
    as_json = drawn.map(lambda v: {"content": json.dumps(v).encode(), "type": "application/json"})
    spoiled = st.builds(lambda v, bad, i: {"content": json.dumps(_spoil(v, bad, i)).encode(),
                                           "type": "application/json"},
                        drawn, st.sampled_from(SPOILED), st.integers(0, 30))
    odd = st.builds(lambda b, t: {"content": b, "type": t}, st.sampled_from(MALFORMED), st.sampled_from(CONTENT_TYPES))
    retyped = st.builds(lambda v, t: {"content": json.dumps(v).encode(), "type": t}, drawn,
                        st.sampled_from(CONTENT_TYPES[1:]))
    return st.one_of(as_json, as_json, spoiled, odd, retyped)


def _path_value(name: str, pools: dict[str, list[str]], foreign: dict[str, list[str]]) -> st.SearchStrategy[Any]:
    ours = [(v, False) for v in pools.get(name, [])]
    theirs = [(v, True) for v in foreign.get(name, [])]
    # Half the time one of ours, so that bodies reach the handlers behind the id checks.
    return st.one_of(*[st.sampled_from(choice) for choice in (ours, ours, ours, theirs) if choice],
                     st.uuids().map(lambda u: (str(u), False)),
                     st.sampled_from(RAW_SEGMENTS).map(lambda s: (s, False)))


def requests_for(op: Operation, pools: dict[str, list[str]], foreign: dict[str, list[str]]) -> list[Request]:
    """`EXAMPLES` requests for one operation, the same ones every run."""
    params = op.spec.get("parameters", [])
    path_params = [p["name"] for p in params if p["in"] == "path"]
    query_params = [p for p in params if p["in"] == "query"]
    header_values = st.sampled_from(HEADER_VALUES) | st.uuids().map(str)
    header = st.fixed_dictionaries({}, optional={p["name"]: header_values for p in params if p["in"] == "header"})
    path = st.fixed_dictionaries({n: _path_value(n, pools, foreign) for n in path_params})
    query = st.fixed_dictionaries({}, optional={
        p["name"]: _schema_values(p.get("schema", {}), op.components).map(str) | st.sampled_from(QUERY_VALUES)
        for p in query_params})
    drawn: list[Request] = []

    @settings(max_examples=EXAMPLES, derandomize=SEED is None, database=None, phases=[Phase.generate],
              deadline=None, suppress_health_check=list(HealthCheck))
    @seed(SEED or 0)
    @given(path, query, header, _body(op))
    def collect(path_values: dict[str, tuple[str, bool]], query_values: dict[str, str], header_values: dict[str, str],
                body: dict[str, Any]) -> None:
        query = "?" + "&".join(f"{k}={_quoted(v)}" for k, v in query_values.items()) if query_values else ""
        urls = [op.path, op.path]  # as drawn; with an unknown id for another tenant's
        for name, (value, theirs) in path_values.items():
            segment = value if value in RAW_SEGMENTS else _quoted(value)
            urls = [url.replace("{" + name + "}", s) for url, s in zip(urls, (segment, UNKNOWN if theirs else segment),
                                                                        strict=True)]
        headers = {name: value.encode("latin-1") for name, value in header_values.items()}
        headers |= {"Content-Type": body["type"].encode()} if body.get("type") else {}
        drawn.append(Request(op.method, urls[0] + query, headers, body.get("content"), body.get("files"),
                             body.get("data"), urls[1] + query if urls[1] != urls[0] else None))

    collect()
    return drawn


def defects(op: Operation, request: Request, response: httpx.Response,
            components: dict[str, Any]) -> Iterator[str]:
    """What an outside checker would report about this answer."""
    status = response.status_code
    if status >= 500:
        yield f"{status} {response.text[:160]}"
    if status >= 400:
        try:
            body = response.json()
        except ValueError:
            yield f"{status} with a non-JSON body: {response.text[:80]!r}"
            return
        if not isinstance(body, dict) or set(body) != ERROR_KEYS:
            yield f"{status} outside the error shape: {str(body)[:120]}"
        elif body["code"] == "http_error":
            yield f"{status} with the catch-all code http_error: {body['message'][:120]}"
        elif not (isinstance(body["code"], str) and body["code"] and isinstance(body["message"], str)
                  and isinstance(body["details"], list) and body["request_id"] == response.headers["x-request-id"]):
            yield f"{status} with a malformed error: {str(body)[:120]}"
        return
    declared = ((op.spec.get("responses", {}).get(str(status)) or {}).get("content") or {}).get("application/json")
    if declared and declared.get("schema") and response.content:
        try:
            jsonschema.validate(response.json(), _with_components(declared["schema"], components))
        except (ValueError, jsonschema.ValidationError) as exc:
            yield f"{status} not matching its declared schema: {str(exc).splitlines()[0][:160]}"


# --- the tenant the probe works in, and another tenant whose ids it tries ---------------------------


async def _created(r: httpx.Response) -> str:
    assert r.status_code in (200, 201, 202), r.text
    return str(r.json()["id"])


async def objects_of(client: httpx.AsyncClient, admin: Member, colleague: Member,
                     llm: FakeLLMServer) -> dict[str, list[str]]:
    """A few objects of each kind in the admin's tenant, by the path parameter that names them."""
    h = admin.headers
    space = await _created(await client.post("/api/v1/spaces/", json={"name": "Prov"}, headers=h))
    provider = await _created(await client.post("/api/v1/admin/model-providers/", headers=h, json={
        "name": f"p-{uuid.uuid4().hex[:6]}", "type": "openai_compatible", "base_url": llm.openai_url,
        "api_key": llm.api_key or "any-key"}))
    model = await _created(await client.post("/api/v1/completion-models/", headers=h, json={
        "provider_id": provider, "name": "m", "context_window": 4096, "is_default": True}))
    assistant = await _created(await client.post(f"/api/v1/spaces/{space}/applications/assistants/", headers=h,
                                                 json={"name": "Prov", "system_prompt": "Kort."}))
    r = await client.post(f"/api/v1/assistants/{assistant}/sessions/", json={"question": "Hej?", "stream": True},
                          headers=h)
    assert r.status_code == 202, r.text
    session, question = r.json()["session_id"], r.json()["question"]["id"]
    group = await _created(await client.post(f"/api/v1/spaces/{space}/knowledge/groups/", json={"name": "G"},
                                             headers=h))
    blob = await _created(await client.post(f"/api/v1/groups/{group}/info-blobs/upload/", headers=h,
                                            files={"file": ("a.txt", b"Skolan startar i augusti.", "text/plain")}))
    website = await _created(await client.post(
        f"/api/v1/spaces/{await personal_space(admin)}/knowledge/websites/", headers=h,
        json={"url": "https://www.example.org/", "update_interval": "never"}))
    user_group = await _created(await client.post("/api/v1/user-groups/", json={"name": "UG"}, headers=h))
    role = await _created(await client.post("/api/v1/roles/", json={"name": "R", "permissions": []}, headers=h))
    return {"space_id": [space], "assistant_id": [assistant], "group_id": [group, user_group], "blob_id": [blob],
            "website_id": [website], "session_id": [session], "question_id": [question], "provider_id": [provider],
            "model_id": [model], "role_id": [role],
            "user_id": [str(colleague.id)], "tenant_id": [str(admin.tenant_id)], "version": ["1"],
            "chunk_index": ["0"]}


@pytest.fixture
async def probe_tenants(client: httpx.AsyncClient, make_user: Callable[..., Any], function_apps: FunctionApps,
                        queues: Queues, crawl_queue: str,  # noqa: F811
                        fake: FakeLLMServer, monkeypatch: pytest.MonkeyPatch,
                        ) -> tuple[Member, dict[str, list[str]], dict[str, list[str]]]:
    """The probing admin with objects to name, another tenant's objects; questions asked are left unanswered
    (no `complete` runs) and their SSE long polls cut short, crawls queued (none runs), models answered by
    the fake server, no limit on requests a minute."""
    monkeypatch.setenv("SSE_WAIT_SECONDS", "0.2")
    monkeypatch.setenv("RATE_LIMIT_USER_PER_MINUTE", "0")  # a deeper run sends more than a user may a minute
    get_settings.cache_clear()
    function_apps["SessionsFunction"].dependency_overrides[get_invoker] = lambda: lambda tenant, question: None
    admin = await make_user()
    colleague = await make_user(Org(admin.tenant_id, ""))
    stranger = await make_user()
    ours = await objects_of(client, admin, colleague, fake)
    theirs = await objects_of(client, stranger, await make_user(Org(stranger.tenant_id, "")), fake)
    theirs.pop("version"), theirs.pop("chunk_index")
    return admin, ours, theirs


async def _send(client: httpx.AsyncClient, request: Request, headers: dict[str, str]) -> httpx.Response:
    return await asyncio.wait_for(client.request(
        request.method, request.url, headers={**headers, **request.headers}, content=request.content,
        files=request.files, data=request.data), ANSWER_WITHIN)


async def test_no_route_answers_bad_input_with_a_5xx_or_outside_the_error_shape(
        client: httpx.AsyncClient, probe_tenants: tuple[Member, dict[str, list[str]], dict[str, list[str]]]) -> None:
    admin, ours, theirs = probe_tenants
    headers = dict(admin.headers)
    found: dict[str, str] = {}
    answered: Counter[int] = Counter()
    for op in operations():
        for request in requests_for(op, ours, theirs):
            try:
                response = await _send(client, request, headers)
            except TimeoutError:
                found.setdefault(f"{op.name}: no answer within {ANSWER_WITHIN:.0f} s", request.url)
                continue
            answered[response.status_code // 100] += 1
            for defect in defects(op, request, response, op.components):
                found.setdefault(f"{op.name}: {defect}", f"{request.url} {request.content!r:.200}")
            if request.unknown_twin and (twin := await _send(client, replace(request, url=request.unknown_twin),
                                                             headers)).status_code != response.status_code:
                found.setdefault(f"{op.name}: another tenant's id {response.status_code}, an unknown one "
                                 f"{twin.status_code}", f"{request.url} {response.text[:150]} {twin.text[:150]}")
        if op.method != "get" and (await client.get("/api/v1/users/me/", headers=headers)).status_code == 401:
            # signed out by the probe (logout, password change, its own removal): sign in again
            r = await client.post("/api/v1/users/login/token/", data={"username": admin.email, "password": PASSWORD})
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert not found, "\n".join(f"{what}\n    {example}" for what, example in sorted(found.items()))
    # The probe reached the handlers, and their checks.
    assert answered[2] > 5 * EXAMPLES and answered[4] > 60 * EXAMPLES, answered
