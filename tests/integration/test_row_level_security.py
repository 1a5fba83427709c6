"""The second wall: the application role sees no other tenant's rows even when a query forgets
its tenant filter."""

import psycopg
import pytest

from eneo_local.services import Endpoints

TENANT_TABLES = ["users", "api_keys", "spaces", "space_members"]


def _plain(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
async def two_tenants(make_user):
    a = await make_user()
    b = await make_user()
    return a, b


async def test_unfiltered_queries_see_only_the_bound_tenant(db: Endpoints, two_tenants) -> None:
    a, b = two_tenants
    with psycopg.connect(_plain(db.database_url)) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "eneo_app"
        for table in TENANT_TABLES:
            # No tenant bound: nothing at all.
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 0, table  # noqa: S608
        with conn.transaction():
            conn.execute("SELECT set_config('app.tenant_id', %s, true)", [str(a.tenant_id)])
            for table in TENANT_TABLES:
                tenants = {r[0] for r in conn.execute(f"SELECT DISTINCT tenant_id FROM {table}")}  # noqa: S608
                assert b.tenant_id not in tenants, table
            assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 1
            assert [r[0] for r in conn.execute("SELECT id FROM tenants")] == [a.tenant_id]


async def test_writing_a_row_into_another_tenant_is_refused(db: Endpoints, two_tenants) -> None:
    a, b = two_tenants
    with psycopg.connect(_plain(db.database_url)) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute("SELECT set_config('app.tenant_id', %s, true)", [str(a.tenant_id)])
            conn.execute(
                "INSERT INTO spaces (id, tenant_id, name, description, personal, created_at, updated_at) "
                "VALUES (gen_random_uuid(), %s, 'x', '', false, now(), now())", [str(b.tenant_id)])
        with conn.transaction():
            conn.execute("SELECT set_config('app.tenant_id', %s, true)", [str(a.tenant_id)])
            moved = conn.execute("UPDATE users SET name = 'moved' WHERE id = %s", [str(b.id)]).rowcount
            assert moved == 0


async def test_application_role_cannot_switch_off_the_wall(db: Endpoints) -> None:
    with psycopg.connect(_plain(db.database_url)) as conn:
        row = conn.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user").fetchone()
        assert row == (False, False)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("ALTER TABLE users DISABLE ROW LEVEL SECURITY")
