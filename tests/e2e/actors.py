"""Who acts in end-to-end tests: tenants, admins and users made through the API, as an operator would."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from tests.fakes.llm_server import FakeLLMServer

PASSWORD = "e2e passphrase 42"
ISSUED: set[str] = set()  # every secret the e2e tests made or received, for the log check at the end
CONTENT: set[str] = set()  # question and answer texts, which must not reach the logs either


@dataclass
class Actor:
    id: str
    email: str
    headers: dict[str, str]

    @property
    def token(self) -> str:
        return self.headers["Authorization"].removeprefix("Bearer ")


def login(http: httpx.Client, email: str, password: str = PASSWORD) -> dict[str, str]:
    r = http.post("/api/v1/users/login/token/", data={"username": email, "password": password})
    assert r.status_code == 200, r.text
    ISSUED.add(r.json()["access_token"])
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def new_tenant(http: httpx.Client, sysadmin: dict[str, str]) -> tuple[str, Actor]:
    r = http.post("/api/v1/sysadmin/tenants/", json={"name": f"Kommun {uuid.uuid4().hex[:8]}"}, headers=sysadmin)
    assert r.status_code == 201, r.text
    tenant = r.json()["id"]
    email = f"admin-{uuid.uuid4().hex[:8]}@kommun.se"
    r = http.post(f"/api/v1/sysadmin/tenants/{tenant}/users/", headers=sysadmin,
                  json={"email": email, "name": "Admin", "role": "admin", "password": PASSWORD})
    assert r.status_code == 201, r.text
    return tenant, Actor(r.json()["id"], email, login(http, email))


def new_user(http: httpx.Client, admin: Actor) -> Actor:
    email = f"user-{uuid.uuid4().hex[:8]}@kommun.se"
    r = http.post("/api/v1/users/", json={"email": email, "name": "User", "password": PASSWORD},
                  headers=admin.headers)
    assert r.status_code == 201, r.text
    return Actor(r.json()["id"], email, login(http, email))


def add_fake_model(http: httpx.Client, admin: Actor, fake: FakeLLMServer) -> str:
    """A provider at the fake and its model `fake-model`, made the tenant's default: the model's id."""
    ISSUED.add(fake.api_key or "")
    provider = http.post("/api/v1/admin/model-providers/", headers=admin.headers, json={
        "name": "Fake", "type": "openai_compatible", "base_url": fake.openai_url, "api_key": fake.api_key})
    assert provider.status_code == 201, provider.text
    model = http.post("/api/v1/completion-models/", headers=admin.headers, json={
        "provider_id": provider.json()["id"], "name": "fake-model", "context_window": 8192, "is_default": True})
    assert model.status_code == 201, model.text
    return str(model.json()["id"])
