"""Builders for integration tests: each test makes its own tenant, so tests never share rows."""

import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path
from typing import Any

import httpx
import pytest

from eneo.core.db import UnitOfWork
from eneo.core.settings import get_settings
from eneo.tenants.schemas import TenantCreate
from eneo.tenants.service import create_tenant
from eneo.users.models import UserRole
from eneo.users.schemas import UserCreate
from eneo.users.service import create_user
from tests.fakes.llm_server import FakeLLMServer
from tests.project_template import http_function_folders, http_routes

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


def load_function(name: str) -> Any:
    """A function's app module, loaded from functions/<name>/app.py as Lambda would."""
    spec = spec_from_file_location(f"fn_{name}", ROOT / "functions" / name / "app.py")
    assert spec and spec.loader
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Member:
    id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    headers: dict[str, str]


@dataclass
class Org:
    id: uuid.UUID
    name: str


@pytest.fixture
async def make_tenant(db: object) -> Callable[..., Any]:
    async def make(name: str | None = None) -> Org:
        async with UnitOfWork(sysadmin=True) as uow:
            tenant = await create_tenant(uow, TenantCreate(name=name or f"org-{uuid.uuid4().hex[:8]}"))
            return Org(tenant.id, tenant.name)

    return make


class FunctionApps:
    """Each HTTP function's FastAPI app, loaded once per test (tests may set dependency_overrides)."""

    def __init__(self) -> None:
        self._apps: dict[str, Any] = {}

    def __getitem__(self, logical_id: str) -> Any:
        if logical_id not in self._apps:
            self._apps[logical_id] = load_function(http_function_folders()[logical_id]).app
        return self._apps[logical_id]


@pytest.fixture
def function_apps() -> FunctionApps:
    return FunctionApps()


@pytest.fixture
async def client(db: object, function_apps: FunctionApps) -> AsyncIterator[httpx.AsyncClient]:
    """Every HTTP function in-process, each request routed by template.yaml's routes like the gateway does."""
    table = http_routes()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        match = table.match(scope.get("method", "GET"), scope.get("raw_path", b"").decode() or scope["path"])
        if match is None:
            raise AssertionError(f"no route in template.yaml for {scope.get('method')} {scope['path']}")
        await function_apps[match.route.function](scope, receive, send)

    # A fresh client address per test, so per-IP login limits never leak between tests.
    ip = f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"
    transport = httpx.ASGITransport(app=app, client=(ip, 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://eneo.test") as c:
        yield c


@pytest.fixture
async def make_user(make_tenant: Callable[..., Any], client: httpx.AsyncClient) -> Callable[..., Any]:
    """A user (admin by default) in the given tenant or a new one, logged in."""

    async def make(tenant: Org | None = None, role: UserRole = UserRole.admin) -> Member:
        tenant = tenant or await make_tenant()
        email = f"{role.value}-{uuid.uuid4().hex[:8]}@example.org"
        async with UnitOfWork(sysadmin=True) as uow:
            uow.act_as(tenant.id)
            user = await create_user(uow, get_settings(), tenant.id,
                                     UserCreate(email=email, name=email.split("@")[0], role=role, password=PASSWORD))
        r = await client.post("/api/v1/users/login/token/", data={"username": email, "password": PASSWORD})
        assert r.status_code == 200, r.text
        return Member(user.id, tenant.id, email, {"Authorization": f"Bearer {r.json()['access_token']}"})

    return make


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    """A model server answering four tokens (a module that needs another defines its own `fake`)."""
    with FakeLLMServer(token_count=4) as server:
        yield server


@pytest.fixture
async def chat(client: httpx.AsyncClient, make_user: Callable[..., Any], fake: FakeLLMServer) -> Any:
    """An admin's published assistant answered by `fake` (its requests cleared), and a user of the same tenant."""
    from tests.integration.test_sessions import make_chat  # a test module: it imports this one

    fake.reset()
    admin = await make_user()
    return await make_chat(client, admin, await make_user(Org(admin.tenant_id, ""), UserRole.user), fake)


@pytest.fixture(autouse=True)
async def no_connection_left_open(db: object) -> AsyncIterator[None]:
    """Every request returns its connection to the pool; a leak fails the test that caused it."""
    from eneo.core.db import get_engine

    yield
    pool = get_engine().pool
    assert pool.checkedout() == 0, f"{pool.checkedout()} database connection(s) still checked out"  # type: ignore[attr-defined]
