"""A tenant admin cannot point a model provider at the deployment's own network (issue 11, item 3).

Through the models function against real Postgres, with the deployment's allow list (OUTBOUND_ALLOWED_HOSTS) empty,
as in production: every kind of internal address is refused 422 when a provider is created or moved, for the
completion, embedding and transcription providers alike (they are the same providers); a host that resolves there
when connecting is refused then, the same for an open and a closed port; the managed provider stays usable.
"""

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from eneo.core.db import UnitOfWork
from eneo.core.settings import get_settings
from eneo.llm.clients import close_clients
from eneo.model_providers.service import ensure_managed_provider
from eneo_local.services import Endpoints
from tests.fakes.llm_server import FakeLLMServer
from tests.integration.test_model_providers import KEY, PROVIDERS, make_provider

INTERNAL = [
    "http://127.0.0.1:6379/v1", "http://localhost:11434/v1", "http://[::1]:8000/v1", "http://2130706433/v1",
    "http://169.254.169.254/latest/", "http://[fd00:ec2::254]/", "http://[fe80::1]/",
    "http://10.0.0.5:8000/v1", "http://172.16.3.4/v1", "http://192.168.1.10/v1", "http://[fc00::5]/v1",
    "http://100.64.0.1/v1", "http://100.100.100.200/",
    "http://0.0.0.0:5432/", "http://[::]/", "http://224.0.0.1/", "http://[ff02::1]/",
    "http://[::ffff:127.0.0.1]:6379/", "http://[::ffff:169.254.169.254]/",
]


@pytest.fixture
def no_allowed_hosts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The production default: nothing allowed beyond public addresses (the test suite allows 127.0.0.1)."""
    monkeypatch.setenv("OUTBOUND_ALLOWED_HOSTS", "")
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


def refused_field(r: httpx.Response) -> str:
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error", r.text
    [detail] = r.json()["details"]
    return str(detail["field"])


async def test_internal_addresses_are_refused_on_create_and_update(client: httpx.AsyncClient, make_user,
                                                                   no_allowed_hosts: None) -> None:
    admin = await make_user()
    provider = await make_provider(client, admin, type="openai_compatible", base_url="https://llm.example.com/v1",
                                   api_key=None)
    for url in INTERNAL:
        r = await client.post(PROVIDERS, json={"name": "x", "type": "openai_compatible", "base_url": url},
                              headers=admin.headers)
        assert refused_field(r) == "base_url", url
        r = await client.patch(f"{PROVIDERS}{provider['id']}/", json={"base_url": url}, headers=admin.headers)
        assert refused_field(r) == "base_url", url
    assert (await client.get(f"{PROVIDERS}{provider['id']}/", headers=admin.headers)).json()["base_url"] == \
        "https://llm.example.com/v1", "no refused change was saved"
    names = [p["name"] for p in (await client.get(PROVIDERS, headers=admin.headers)).json()["items"]]
    assert "x" not in names, "no refused provider was saved"


async def test_every_provider_type_and_address_field_is_checked(client: httpx.AsyncClient, make_user,
                                                                no_allowed_hosts: None) -> None:
    admin = await make_user()
    bodies: list[tuple[dict[str, Any], str]] = [
        ({"type": "openai", "api_key": KEY, "base_url": "http://169.254.169.254/v1"}, "base_url"),
        ({"type": "anthropic", "api_key": KEY, "base_url": "http://localhost:8080"}, "base_url"),
        ({"type": "azure", "api_key": KEY, "api_version": "2024-10-21", "endpoint": "http://10.1.1.1"}, "endpoint"),
    ]
    for body, field in bodies:
        r = await client.post(PROVIDERS, json={"name": f"p-{uuid.uuid4().hex[:6]}", **body}, headers=admin.headers)
        assert refused_field(r) == field, body
    azure = await make_provider(client, admin, type="azure", api_version="2024-10-21",
                                endpoint="https://res.openai.azure.com")
    r = await client.patch(f"{PROVIDERS}{azure['id']}/", json={"endpoint": "http://[::ffff:a9fe:a9fe]",
                                                                "api_key": KEY}, headers=admin.headers)
    assert refused_field(r) == "endpoint"
    # Other changes to a provider are not held up by the rule.
    r = await client.patch(f"{PROVIDERS}{azure['id']}/", json={"name": "Azure EU"}, headers=admin.headers)
    assert r.status_code == 200, r.text


async def test_the_deployment_can_allow_hosts(client: httpx.AsyncClient, make_user,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTBOUND_ALLOWED_HOSTS", "10.0.0.0/8,localhost")
    get_settings.cache_clear()
    try:
        admin = await make_user()
        for url in ("http://10.0.0.5:8000/v1", "http://localhost:11434/v1"):
            await make_provider(client, admin, type="openai_compatible", base_url=url, api_key=None)
        r = await client.post(PROVIDERS, json={"name": "m", "type": "openai_compatible",
                                               "base_url": "http://169.254.169.254/"}, headers=admin.headers)
        assert refused_field(r) == "base_url"
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def set_base_url(db: Endpoints, provider_id: str, url: str) -> None:
    """What a provider saved before the rule, or whose name resolves elsewhere since, looks like (owner role)."""
    with psycopg.connect(db.database_migration_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("UPDATE model_providers SET config = jsonb_set(config, '{base_url}', to_jsonb(%s::text)) "
                     "WHERE id = %s", [url, provider_id])


async def test_a_host_resolving_inside_is_refused_when_connecting_and_ports_stay_hidden(
        client: httpx.AsyncClient, make_user, db: Endpoints, no_allowed_hosts: None) -> None:
    """`localhost` resolves to 127.0.0.1 where a fake provider listens: the connection test is refused without
    reaching it, with the answer it gives for a closed port."""
    admin = await make_user()
    with FakeLLMServer(api_key=None) as fake:
        results = []
        for port in (fake.port, 9):
            provider = await make_provider(client, admin, type="openai_compatible",
                                           base_url="https://llm.example.com/v1", api_key=None)
            set_base_url(db, provider["id"], f"http://localhost:{port}/v1")
            r = await client.post(f"{PROVIDERS}{provider['id']}/test/", headers=admin.headers)
            assert r.status_code == 200, r.text
            results.append(r.json())
        await close_clients()
        assert fake.requests == [], "nothing reached the provider on 127.0.0.1"
    assert results[0] == results[1], "an open and a closed port look the same"
    assert (results[0]["ok"], results[0]["code"]) == (False, "provider_address_refused")
    assert "localhost resolves only to a loopback address" in results[0]["message"]


async def test_the_managed_provider_is_the_deployments_and_stays_usable(client: httpx.AsyncClient, make_user,
                                                                        no_allowed_hosts: None) -> None:
    admin = await make_user()
    with FakeLLMServer(api_key=None) as fake:
        async with UnitOfWork(admin.tenant_id) as uow:
            await ensure_managed_provider(uow, name="Local", base_url=fake.openai_url, model="fake-model",
                                          display_name="Fake", context_window=2048)
        providers = (await client.get(PROVIDERS, headers=admin.headers)).json()["items"]
        [managed] = [p for p in providers if p["managed"]]
        r = await client.post(f"{PROVIDERS}{managed['id']}/test/", headers=admin.headers)
        await close_clients()
    assert r.status_code == 200 and r.json()["ok"] is True, r.text
