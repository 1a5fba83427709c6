"""End to end through the local stack's HTTP gateway with a real HTTP client.

Each request crosses the gateway (API Gateway v2 event), a warm worker process, Mangum, FastAPI,
and the embedded Postgres/Redis: the same path a browser takes.
"""

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.actors import ISSUED, PASSWORD, Actor, login, new_tenant, new_user
from tests.project_template import http_function_folders

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def http(stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def sysadmin(stack) -> dict[str, str]:
    return {"X-API-Key": stack.super_api_key}


def test_bootstrapped_admin_logs_in_and_works_in_a_space(http: httpx.Client, stack) -> None:
    admin = Actor("", stack.admin_email, login(http, stack.admin_email, stack.admin_password))
    me = http.get("/api/v1/users/me/", headers=admin.headers).json()
    assert (me["email"], me["role"]) == (stack.admin_email, "admin")

    colleague = new_user(http, admin)
    r = http.post("/api/v1/spaces/", json={"name": "Skola"}, headers=admin.headers)
    assert r.status_code == 201
    space = r.json()["id"]
    r = http.post(f"/api/v1/spaces/{space}/members/", json={"user_id": colleague.id, "role": "viewer"},
                  headers=admin.headers)
    assert r.status_code == 201
    listed = http.get("/api/v1/spaces/", headers=colleague.headers).json()["items"]
    assert {(s["name"], s["my_role"]) for s in listed} == {("Personal", "admin"), ("Skola", "viewer")}


def test_api_key_create_use_revoke_rejected(http: httpx.Client, sysadmin) -> None:
    _, admin = new_tenant(http, sysadmin)
    created = http.post("/api/v1/api-keys/", json={"name": "integration"}, headers=admin.headers).json()
    ISSUED.add(created["key"])
    key = {"X-API-Key": created["key"]}
    r = http.get("/api/v1/spaces/", headers=key)
    assert r.status_code == 200 and len(r.json()["items"]) == 1
    listed = http.get("/api/v1/api-keys/", headers=admin.headers).json()["items"]
    assert [(k["prefix"], k["last4"]) for k in listed] == [(created["prefix"], created["key"][-4:])]
    assert created["key"] not in http.get("/api/v1/api-keys/", headers=admin.headers).text
    assert http.delete(f"/api/v1/api-keys/{created['id']}/", headers=admin.headers).status_code == 200
    r = http.get("/api/v1/spaces/", headers=key)
    assert (r.status_code, r.json()["code"]) == (401, "api_key_revoked")


def test_suspended_tenant_is_refused(http: httpx.Client, sysadmin) -> None:
    tenant, admin = new_tenant(http, sysadmin)
    assert http.patch(f"/api/v1/sysadmin/tenants/{tenant}/", json={"state": "suspended"},
                      headers=sysadmin).status_code == 200
    r = http.get("/api/v1/spaces/", headers=admin.headers)
    assert (r.status_code, r.json()["code"]) == (403, "tenant_suspended")
    r = http.post("/api/v1/users/login/token/", data={"username": admin.email, "password": PASSWORD})
    assert (r.status_code, r.json()["code"]) == (403, "tenant_suspended")
    http.patch(f"/api/v1/sysadmin/tenants/{tenant}/", json={"state": "active"}, headers=sysadmin)
    assert http.get("/api/v1/spaces/", headers=admin.headers).status_code == 200


@dataclass
class TenantA:
    admin: Actor
    user: Actor
    space: str
    key_id: str
    key: str
    provider: str = ""
    model: str = ""
    assistant: str = ""
    session: str = ""
    question: str = ""
    embedding_model: str = ""
    group: str = ""
    blob: str = ""
    transcription_model: str = ""
    website: str = ""
    crawl_run: str = ""
    level: str = ""
    sso_provider: str = ""
    role: str = ""
    user_group: str = ""


@pytest.fixture(scope="module")
def tenant_a(http: httpx.Client, sysadmin) -> TenantA:
    _, admin = new_tenant(http, sysadmin)
    user = new_user(http, admin)
    space = http.post("/api/v1/spaces/", json={"name": "A's space"}, headers=admin.headers).json()["id"]
    http.post(f"/api/v1/spaces/{space}/members/", json={"user_id": user.id, "role": "editor"}, headers=admin.headers)
    key = http.post("/api/v1/api-keys/", json={"name": "a"}, headers=admin.headers).json()
    ISSUED.add(key["key"])
    provider_key = f"sk-e2e-{uuid.uuid4().hex}"
    ISSUED.add(provider_key)  # stored encrypted; must never reach a log line either
    provider = http.post("/api/v1/admin/model-providers/", headers=admin.headers, json={
        "name": "A's provider", "type": "openai_compatible", "base_url": "http://127.0.0.1:9/v1",
        "api_key": provider_key}).json()["id"]
    model = http.post("/api/v1/completion-models/", headers=admin.headers, json={
        "provider_id": provider, "name": "a-model", "context_window": 2048}).json()["id"]
    assistant = http.post(f"/api/v1/spaces/{space}/applications/assistants/", headers=admin.headers, json={
        "name": "A's assistant", "completion_model_id": model, "published": True}).json()["id"]
    # A's model points nowhere: the streamed answer fails, but the session and question exist.
    asked = http.post(f"/api/v1/assistants/{assistant}/sessions/", headers=admin.headers,
                      json={"question": "A's question", "stream": True})
    assert asked.status_code == 202, asked.text
    session, question = asked.json()["session_id"], asked.json()["question"]["id"]
    embedding_model = http.post("/api/v1/embedding-models/", headers=admin.headers, json={
        "provider_id": provider, "name": "a-embedder", "dimensions": 8})
    assert embedding_model.status_code == 201, embedding_model.text
    group = http.post(f"/api/v1/spaces/{space}/knowledge/groups/", json={"name": "A's collection"},
                      headers=admin.headers)
    assert group.status_code == 201, group.text
    blob = http.post(f"/api/v1/groups/{group.json()['id']}/info-blobs/upload/", headers=admin.headers,
                     files={"file": ("a.txt", b"A's document about the harbour fees.", "text/plain")})
    assert blob.status_code == 202, blob.text
    transcription_model = http.post("/api/v1/transcription-models/", headers=admin.headers, json={
        "provider_id": provider, "name": "a-whisper", "is_default": True})
    assert transcription_model.status_code == 201, transcription_model.text
    # A's website points where nobody answers (its crawl fails), which is all the table needs.
    website = http.post(f"/api/v1/spaces/{space}/knowledge/websites/", headers=admin.headers,
                        json={"url": "http://127.0.0.1:9/", "name": "A's website"})
    assert website.status_code == 201, website.text
    crawl_run = http.post(f"/api/v1/websites/{website.json()['id']}/run/", headers=admin.headers)
    assert crawl_run.status_code == 202, crawl_run.text
    level = http.post("/api/v1/security-classifications/", headers=admin.headers, json={"name": "A's level"})
    assert level.status_code == 201, level.text
    sso = http.post("/api/v1/sso/providers/", headers=admin.headers, json={
        "name": "A's SSO", "issuer": "https://login.a.example", "client_id": "a-client"})
    assert sso.status_code == 201, sso.text
    role = http.post("/api/v1/roles/", headers=admin.headers, json={"name": "A's role"})
    assert role.status_code == 201, role.text
    user_group = http.post("/api/v1/user-groups/", headers=admin.headers, json={"name": "A's group"})
    assert user_group.status_code == 201, user_group.text
    for call in (http.post(f"/api/v1/user-groups/{user_group.json()['id']}/members/", headers=admin.headers,
                           json={"user_id": user.id}),
                 http.post(f"/api/v1/spaces/{space}/group-members/", headers=admin.headers,
                           json={"group_id": user_group.json()["id"], "role": "viewer"})):
        assert call.status_code == 201, call.text
    return TenantA(admin, user, space, key["id"], key["key"], provider, model, assistant, session, question,
                   embedding_model.json()["id"], group.json()["id"], blob.json()["id"],
                   transcription_model.json()["id"], website.json()["id"], crawl_run.json()["id"], level.json()["id"],
                   sso.json()["id"], role.json()["id"], user_group.json()["id"])


# Every route that takes an id, called by tenant B's admin with tenant A's ids.
FILE = {"file": ("stolen.txt", b"Tenant B's text, uploaded into A's collection", "text/plain")}  # multipart
CROSS_TENANT = [
    ("GET", "/api/v1/spaces/{space}/", None),
    ("PATCH", "/api/v1/spaces/{space}/", {"name": "stolen"}),
    ("DELETE", "/api/v1/spaces/{space}/", None),
    ("POST", "/api/v1/spaces/{space}/members/", {"user_id": "{b_admin}", "role": "admin"}),
    ("PATCH", "/api/v1/spaces/{space}/members/{user}/", {"role": "viewer"}),
    ("DELETE", "/api/v1/spaces/{space}/members/{user}/", None),
    ("POST", "/api/v1/spaces/{b_space}/members/", {"user_id": "{user}", "role": "viewer"}),
    ("GET", "/api/v1/users/{user}/", None),
    ("PATCH", "/api/v1/users/{user}/", {"state": "deactivated"}),
    ("DELETE", "/api/v1/users/{user}/", None),
    ("POST", "/api/v1/users/{user}/invitation/", None),
    ("DELETE", "/api/v1/users/{user}/totp/", None),
    ("DELETE", "/api/v1/api-keys/{key_id}/", None),
    ("GET", "/api/v1/admin/model-providers/{provider}/", None),
    ("PATCH", "/api/v1/admin/model-providers/{provider}/", {"name": "stolen"}),
    ("DELETE", "/api/v1/admin/model-providers/{provider}/", None),
    ("POST", "/api/v1/admin/model-providers/{provider}/test/", None),
    ("GET", "/api/v1/completion-models/{model}/", None),
    ("PATCH", "/api/v1/completion-models/{model}/", {"display_name": "stolen"}),
    ("DELETE", "/api/v1/completion-models/{model}/", None),
    ("POST", "/api/v1/spaces/{space}/applications/assistants/", {"name": "stolen"}),
    ("GET", "/api/v1/spaces/{space}/applications/assistants/", None),
    ("GET", "/api/v1/assistants/{assistant}/", None),
    ("PATCH", "/api/v1/assistants/{assistant}/", {"name": "stolen"}),
    ("DELETE", "/api/v1/assistants/{assistant}/", None),
    ("GET", "/api/v1/assistants/{assistant}/prompts/", None),
    ("POST", "/api/v1/assistants/{assistant}/prompts/{version}/restore/", None),
    ("POST", "/api/v1/assistants/{assistant}/sessions/", {"question": "stolen"}),
    ("GET", "/api/v1/assistants/{assistant}/sessions/", None),
    ("POST", "/api/v1/assistants/{assistant}/sessions/{session}/", {"question": "stolen"}),
    ("GET", "/api/v1/assistants/{assistant}/sessions/{session}/", None),
    ("DELETE", "/api/v1/assistants/{assistant}/sessions/{session}/", None),
    ("POST", "/api/v1/assistants/{assistant}/sessions/{session}/feedback/", {"question_id": "{question}", "value": 1}),
    ("GET", "/api/v1/questions/{question}/", None),
    ("GET", "/api/v1/questions/{question}/stream", None),
    ("POST", "/api/v1/questions/{question}/cancel/", None),
    ("GET", "/api/v1/embedding-models/{embedding_model}/", None),
    ("PATCH", "/api/v1/embedding-models/{embedding_model}/", {"enabled": False}),
    ("DELETE", "/api/v1/embedding-models/{embedding_model}/", None),
    ("GET", "/api/v1/transcription-models/{transcription_model}/", None),
    ("PATCH", "/api/v1/transcription-models/{transcription_model}/", {"enabled": False}),
    ("DELETE", "/api/v1/transcription-models/{transcription_model}/", None),
    ("POST", "/api/v1/spaces/{space}/knowledge/groups/", {"name": "stolen"}),
    ("GET", "/api/v1/spaces/{space}/knowledge/groups/", None),
    ("GET", "/api/v1/groups/{group}/", None),
    ("PATCH", "/api/v1/groups/{group}/", {"name": "stolen"}),
    ("DELETE", "/api/v1/groups/{group}/", None),
    ("GET", "/api/v1/groups/{group}/info-blobs/", None),
    ("POST", "/api/v1/groups/{group}/info-blobs/upload-url/",
     {"filename": "a.txt", "content_type": "text/plain", "size_bytes": 10}),
    ("POST", "/api/v1/groups/{group}/info-blobs/upload/", FILE),
    ("POST", "/api/v1/groups/{group}/searches/", {"query": "A's document"}),
    ("GET", "/api/v1/info-blobs/{blob}/", None),
    ("GET", "/api/v1/info-blobs/{blob}/chunks/", None),
    ("PATCH", "/api/v1/info-blobs/{blob}/", {"title": "stolen"}),
    ("DELETE", "/api/v1/info-blobs/{blob}/", None),
    ("POST", "/api/v1/info-blobs/{blob}/retry/", None),
    ("GET", "/api/v1/info-blobs/{blob}/chunks/{chunk}/", None),
    ("GET", "/api/v1/info-blobs/{blob}/download/", None),
    ("POST", "/api/v1/spaces/{space}/knowledge/websites/", {"url": "http://127.0.0.1:9/"}),
    ("GET", "/api/v1/spaces/{space}/knowledge/websites/", None),
    ("GET", "/api/v1/websites/{website}/", None),
    ("PATCH", "/api/v1/websites/{website}/", {"name": "stolen"}),
    ("DELETE", "/api/v1/websites/{website}/", None),
    ("POST", "/api/v1/websites/{website}/searches/", {"query": "A's page"}),
    ("POST", "/api/v1/websites/{website}/run/", None),
    ("GET", "/api/v1/websites/{website}/runs/", None),
    ("GET", "/api/v1/crawl-runs/{crawl_run}/", None),
    ("GET", "/api/v1/retention/spaces/{space}/", None),
    ("PUT", "/api/v1/retention/spaces/{space}/", {"days": 1}),
    ("DELETE", "/api/v1/retention/spaces/{space}/", None),
    ("GET", "/api/v1/retention/assistants/{assistant}/", None),
    ("PUT", "/api/v1/retention/assistants/{assistant}/", {"days": 1}),
    ("DELETE", "/api/v1/retention/assistants/{assistant}/", None),
    ("POST", "/api/v1/privacy/users/{user}/export/", None),
    ("POST", "/api/v1/privacy/users/{user}/erasure/", None),
    ("GET", "/api/v1/security-classifications/{level}/", None),
    ("PATCH", "/api/v1/security-classifications/{level}/", {"name": "stolen"}),
    ("DELETE", "/api/v1/security-classifications/{level}/", None),
    ("GET", "/api/v1/sso/providers/{sso_provider}/", None),
    ("PATCH", "/api/v1/sso/providers/{sso_provider}/", {"name": "stolen", "password_login": False}),
    ("DELETE", "/api/v1/sso/providers/{sso_provider}/", None),
    ("GET", "/api/v1/roles/{role}/", None),
    ("PATCH", "/api/v1/roles/{role}/", {"name": "stolen"}),
    ("DELETE", "/api/v1/roles/{role}/", None),
    ("GET", "/api/v1/user-groups/{user_group}/", None),
    ("PATCH", "/api/v1/user-groups/{user_group}/", {"name": "stolen"}),
    ("DELETE", "/api/v1/user-groups/{user_group}/", None),
    ("POST", "/api/v1/user-groups/{user_group}/members/", {"user_id": "{b_admin}"}),
    ("DELETE", "/api/v1/user-groups/{user_group}/members/{user}/", None),
    ("POST", "/api/v1/spaces/{space}/group-members/", {"group_id": "{user_group}", "role": "admin"}),
    ("PATCH", "/api/v1/spaces/{space}/group-members/{user_group}/", {"role": "admin"}),
    ("DELETE", "/api/v1/spaces/{space}/group-members/{user_group}/", None),
    ("POST", "/api/v1/spaces/{b_space}/group-members/", {"group_id": "{user_group}", "role": "viewer"}),
]


@pytest.mark.parametrize(("method", "path", "body"), CROSS_TENANT, ids=[f"{m} {p}" for m, p, _ in CROSS_TENANT])
def test_tenant_b_cannot_touch_tenant_a(http: httpx.Client, sysadmin, tenant_a: TenantA, method: str, path: str,
                                        body: dict[str, object] | None) -> None:
    _, b_admin = new_tenant(http, sysadmin)
    b_space = http.post("/api/v1/spaces/", json={"name": "B"}, headers=b_admin.headers).json()["id"]
    ids = {"space": tenant_a.space, "user": tenant_a.user.id, "key_id": tenant_a.key_id,
           "b_admin": b_admin.id, "b_space": b_space, "provider": tenant_a.provider, "model": tenant_a.model,
           "assistant": tenant_a.assistant, "version": 1, "chunk": 0, "session": tenant_a.session,
           "question": tenant_a.question, "embedding_model": tenant_a.embedding_model, "group": tenant_a.group,
           "blob": tenant_a.blob, "transcription_model": tenant_a.transcription_model, "website": tenant_a.website,
           "crawl_run": tenant_a.crawl_run, "level": tenant_a.level, "sso_provider": tenant_a.sso_provider,
           "role": tenant_a.role, "user_group": tenant_a.user_group}
    if body is FILE:
        r = http.request(method, path.format(**ids), files=FILE, headers=b_admin.headers)
    else:
        fill = {k: v.format(**ids) if isinstance(v, str) else v for k, v in (body or {}).items()}
        r = http.request(method, path.format(**ids), json=fill if body else None, headers=b_admin.headers)
    assert r.status_code == 404, r.text
    assert r.json()["code"] == "not_found"
    assert "A's space" not in r.text and tenant_a.user.email not in r.text

    # And nothing of A changed.
    space = http.get(f"/api/v1/spaces/{tenant_a.space}/", headers=tenant_a.admin.headers).json()
    assert space["name"] == "A's space"
    assert {m["user_id"]: m["role"] for m in space["members"]}[tenant_a.user.id] == "editor"
    assert http.get("/api/v1/users/me/", headers={"X-API-Key": tenant_a.key}).status_code == 200
    assistant = http.get(f"/api/v1/assistants/{tenant_a.assistant}/", headers=tenant_a.admin.headers).json()
    assert (assistant["name"], assistant["prompt_version"]) == ("A's assistant", 1)
    model = http.get(f"/api/v1/completion-models/{tenant_a.model}/", headers=tenant_a.admin.headers).json()
    assert (model["name"], model["enabled"]) == ("a-model", True)
    provider = http.get(f"/api/v1/admin/model-providers/{tenant_a.provider}/", headers=tenant_a.admin.headers)
    assert provider.json()["name"] == "A's provider"
    session = http.get(f"/api/v1/assistants/{tenant_a.assistant}/sessions/{tenant_a.session}/",
                       headers=tenant_a.admin.headers).json()
    assert [(q["id"], q["question"], q["feedback"]) for q in session["questions"]] == [
        (tenant_a.question, "A's question", None)]
    embedder = http.get(f"/api/v1/embedding-models/{tenant_a.embedding_model}/", headers=tenant_a.admin.headers)
    assert (embedder.json()["name"], embedder.json()["enabled"]) == ("a-embedder", True)
    transcriber = http.get(f"/api/v1/transcription-models/{tenant_a.transcription_model}/",
                           headers=tenant_a.admin.headers).json()
    assert (transcriber["name"], transcriber["enabled"], transcriber["is_default"]) == ("a-whisper", True, True)
    assert http.get(f"/api/v1/groups/{tenant_a.group}/", headers=tenant_a.admin.headers).json()["name"] == \
        "A's collection"
    blobs = http.get(f"/api/v1/groups/{tenant_a.group}/info-blobs/", headers=tenant_a.admin.headers).json()["items"]
    assert [(b["id"], b["title"]) for b in blobs] == [(tenant_a.blob, "a.txt")]
    website = http.get(f"/api/v1/websites/{tenant_a.website}/", headers=tenant_a.admin.headers).json()
    assert website["name"] == "A's website"
    kept = http.get(f"/api/v1/retention/assistants/{tenant_a.assistant}/", headers=tenant_a.admin.headers).json()
    assert (kept["days"], kept["effective_days"]) == (None, None)
    levels = http.get("/api/v1/security-classifications/", headers=tenant_a.admin.headers).json()["items"]
    assert [(lv["id"], lv["name"]) for lv in levels] == [(tenant_a.level, "A's level")]
    sso = http.get(f"/api/v1/sso/providers/{tenant_a.sso_provider}/", headers=tenant_a.admin.headers).json()
    assert (sso["name"], sso["password_login"]) == ("A's SSO", True)
    role = http.get(f"/api/v1/roles/{tenant_a.role}/", headers=tenant_a.admin.headers).json()
    assert (role["name"], role["permissions"]) == ("A's role", [])
    group = http.get(f"/api/v1/user-groups/{tenant_a.user_group}/", headers=tenant_a.admin.headers).json()
    assert (group["name"], [m["user_id"] for m in group["members"]]) == ("A's group", [tenant_a.user.id])
    assert [(g["group_id"], g["role"]) for g in space["group_members"]] == [(tenant_a.user_group, "viewer")]


LISTS = ["/api/v1/spaces/", "/api/v1/users/", "/api/v1/api-keys/", "/api/v1/admin/model-providers/",
         "/api/v1/completion-models/", "/api/v1/assistants/", "/api/v1/embedding-models/", "/api/v1/limits/",
         "/api/v1/transcription-models/", "/api/v1/retention/tenant/", "/api/v1/security-classifications/",
         "/api/v1/audit/logs/", "/api/v1/audit/logs/export/", "/api/v1/token-usage/", "/api/v1/storage-usage/",
         "/api/v1/quotas/", "/api/v1/sso/providers/", "/api/v1/sso/sign-in-options/",
         "/api/v1/roles/", "/api/v1/user-groups/", "/api/v1/settings/"]


def test_tenant_b_lists_nothing_of_tenant_a(http: httpx.Client, sysadmin, tenant_a: TenantA) -> None:
    _, b_admin = new_tenant(http, sysadmin)
    for path in LISTS:
        r = http.get(path, headers=b_admin.headers)
        assert r.status_code == 200
        text = r.text
        for secret in (tenant_a.space, tenant_a.user.id, tenant_a.admin.id, tenant_a.key_id, tenant_a.user.email,
                       tenant_a.provider, tenant_a.model, tenant_a.assistant, tenant_a.session, tenant_a.question,
                       tenant_a.embedding_model, tenant_a.group, tenant_a.blob, tenant_a.transcription_model,
                       tenant_a.website, tenant_a.crawl_run, tenant_a.level, tenant_a.sso_provider,
                       tenant_a.role, tenant_a.user_group):
            assert secret not in text, (path, secret)


def test_tenant_b_cannot_carry_or_reorder_tenant_a_levels(http: httpx.Client, sysadmin, tenant_a: TenantA) -> None:
    """A level's id in a body (a space's, a model's, a reorder) is checked against the caller's tenant too."""
    _, b_admin = new_tenant(http, sysadmin)
    b_space = http.post("/api/v1/spaces/", json={"name": "B"}, headers=b_admin.headers).json()["id"]
    b_provider = http.post("/api/v1/admin/model-providers/", headers=b_admin.headers, json={
        "name": "B's provider", "type": "openai_compatible", "base_url": "http://127.0.0.1:9/v1"}).json()["id"]
    b_model = http.post("/api/v1/completion-models/", headers=b_admin.headers, json={
        "provider_id": b_provider, "name": "b-model", "context_window": 2048}).json()["id"]
    for path in (f"/api/v1/spaces/{b_space}/", f"/api/v1/completion-models/{b_model}/"):
        r = http.patch(path, json={"security_classification_id": tenant_a.level}, headers=b_admin.headers)
        assert (r.status_code, r.json()["details"][0]["field"]) == (422, "security_classification_id"), r.text
    r = http.post("/api/v1/security-classifications/reorder/", json={"ids": [tenant_a.level]}, headers=b_admin.headers)
    assert r.status_code == 422 and "A's level" not in r.text
    levels = http.get("/api/v1/security-classifications/", headers=tenant_a.admin.headers).json()["items"]
    assert [(lv["id"], lv["name"], lv["position"]) for lv in levels] == [(tenant_a.level, "A's level", 1)]


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_the_cross_tenant_tables_cover_every_tenant_route(http: httpx.Client) -> None:
    """A route added later without a row above fails here, so isolation is never left untested."""
    with_ids, lists = set(), set()
    for function in sorted(http_function_folders().values()):
        for path, operations in http.get(f"/api/v1/docs/{function}/openapi.json").json()["paths"].items():
            if path.startswith("/api/v1/sysadmin/"):
                continue  # the operator's routes, across tenants by design
            for method in operations:
                if "{" in path:
                    with_ids.add((method.upper(), _shape(path)))
                elif method == "get" and not path.endswith("/me/") and "/health/" not in path:
                    lists.add(path)
    assert with_ids == {(m, _shape(p)) for m, p, _ in CROSS_TENANT}
    assert lists == set(LISTS)


# An id nobody has; fixed, as it names tests and a name must be the same in every run (--lf, xdist workers).
UNKNOWN = uuid.UUID("ac84cadd-58de-4cc9-95d5-424affeb46b3")


@pytest.mark.parametrize(("method", "path", "body", "status", "code", "fields"), [
    ("POST", "/api/v1/spaces/", {"name": 7, "description": ["x"]}, 422, "validation_error",
     {"name", "description"}),
    ("POST", "/api/v1/spaces/", {"nme": "typo"}, 422, "validation_error", {"name", "nme"}),
    ("POST", "/api/v1/users/", {"email": "not-an-email", "name": "x"}, 422, "validation_error", {"email"}),
    ("PATCH", "/api/v1/spaces/not-a-uuid/", {"name": "x"}, 422, "validation_error", {"space_id"}),
    ("GET", f"/api/v1/spaces/{UNKNOWN}/", None, 404, "not_found", set()),
    ("GET", f"/api/v1/users/{UNKNOWN}/", None, 404, "not_found", set()),
    ("DELETE", f"/api/v1/api-keys/{UNKNOWN}/", None, 404, "not_found", set()),
])
def test_bad_requests_get_the_documented_error_shape(http: httpx.Client, sysadmin, method, path, body, status, code,
                                                     fields) -> None:
    _, admin = new_tenant(http, sysadmin)
    r = http.request(method, path, json=body, headers=admin.headers)
    assert r.status_code == status, r.text
    payload = r.json()
    assert set(payload) == {"code", "message", "details", "request_id"}
    assert payload["code"] == code and payload["message"]
    assert {d["field"] for d in payload["details"]} == fields
    assert payload["request_id"] == r.headers["x-request-id"]


def test_malformed_json_and_missing_credentials(http: httpx.Client, sysadmin) -> None:
    _, admin = new_tenant(http, sysadmin)
    r = http.post("/api/v1/spaces/", content=b'{"name": ', headers={**admin.headers,
                                                                    "Content-Type": "application/json"})
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    r = http.get("/api/v1/spaces/")
    assert (r.status_code, r.json()["code"]) == (401, "unauthorized")
    r = http.get("/api/v1/spaces/", headers={"Authorization": "Bearer not.a.jwt"})
    assert (r.status_code, r.json()["code"]) == (401, "invalid_token")
