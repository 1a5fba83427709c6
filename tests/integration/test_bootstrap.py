"""First-run bootstrap: all or nothing, and only once.

The database is shared with the other integration tests (which make tenants), so the "only once"
rule is exercised on a fresh database of its own.
"""

import uuid

import psycopg
import pytest
from sqlalchemy import select

from eneo.core.db import UnitOfWork
from eneo.core.errors import ValidationFailed
from eneo.tenants.bootstrap import ensure_first_tenant
from eneo.tenants.models import Tenant
from eneo_local.services import Endpoints


async def test_a_refused_admin_leaves_no_tenant_behind(db: Endpoints) -> None:
    name = f"Boot {uuid.uuid4().hex[:6]}"
    with pytest.raises(ValidationFailed) as refused:
        await ensure_first_tenant(name, "boot@example.org", "short")
    assert refused.value.code == "password_too_short"
    async with UnitOfWork(sysadmin=True) as uow:
        assert await uow.session.scalar(select(Tenant).where(Tenant.name == name)) is None


async def test_bootstrap_creates_nothing_when_tenants_exist(db: Endpoints, make_tenant) -> None:
    await make_tenant()
    email = f"boot-{uuid.uuid4().hex[:6]}@example.org"
    assert await ensure_first_tenant("Another", email, "long enough password") is False
    with psycopg.connect(db.database_migration_url.replace("+psycopg", "")) as conn:
        assert conn.execute("SELECT count(*) FROM users WHERE email = %s", [email]).fetchone() == (0,)
