"""What writing an audit entry adds to a write route: p50/p99 with and without, in the same run.

The spaces function's app runs in-process (as Mangum would call it) against a scratch Postgres (pgserver,
migrated, Row-Level Security on: the app connects as the functions' role). The route is
`PATCH /api/v1/spaces/{id}/` (rename), authenticated with an API key; it records `space.updated`. The
baseline is the same route with the route's `record` replaced by a function that does nothing. The two run
interleaved (with, without, with, ...), so load on the machine falls on both alike.

Run:  .venv/bin/python bench/audit_latency.py [--requests 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared"), str(ROOT / "local")]

from bench.scratchdb import scratch_database  # noqa: E402

SECRETS = {"JWT_SECRET": "bench-jwt-secret-0123456789abcdef0123456789",
           "SUPER_API_KEY": "bench-super-key-0123456789abcdef0123456789",
           "ENCRYPTION_KEY": "bench-encryption-key-0123456789abcdef0123", "LOG_LEVEL": "WARNING"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(requests: int) -> None:
    import httpx
    from sqlalchemy import func, select

    import eneo.spaces.api as spaces_api
    from eneo.api_keys.schemas import ApiKeyCreate
    from eneo.api_keys.service import create_key
    from eneo.audit.models import AuditEntry
    from eneo.auth.principal import Principal
    from eneo.core.db import UnitOfWork, dispose_engine
    from eneo.core.settings import get_settings
    from eneo.spaces.schemas import SpaceCreate
    from eneo.spaces.service import create_space
    from eneo.tenants.schemas import TenantCreate
    from eneo.tenants.service import create_tenant
    from eneo.users.models import UserRole
    from eneo.users.schemas import UserCreate
    from eneo.users.service import create_user
    from tests.integration.conftest import load_function

    settings = get_settings()
    async with UnitOfWork(sysadmin=True) as uow:
        tenant = await create_tenant(uow, TenantCreate(name="bench"))
        await uow.commit()
        uow.act_as(tenant.id)
        user = await create_user(uow, settings, tenant.id, UserCreate(
            email="bench@example.org", name="Bench", role=UserRole.admin, password="bench passphrase 0001"))  # noqa: S106
        p = Principal(user.id, tenant.id, user.email, UserRole.admin, "token")
        space = await create_space(uow, p, SpaceCreate(name="Bench"))
        key = (await create_key(uow, settings, p, ApiKeyCreate(name="bench"))).key

    app = load_function("spaces").app
    real_record = spaces_api.record

    def no_record(*_: Any, **__: Any) -> None:
        return None

    timings: dict[str, list[float]] = {"with audit": [], "without": []}
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://eneo.test",
                                 headers={"X-API-Key": key}) as client:
        for warm in range(50):  # connections, caches
            await client.patch(f"/api/v1/spaces/{space.id}/", json={"name": f"warm {warm}"})
        for i in range(requests * 2):
            mode = "with audit" if i % 2 == 0 else "without"
            spaces_api.record = real_record if mode == "with audit" else no_record  # type: ignore[assignment]
            start = time.perf_counter()
            r = await client.patch(f"/api/v1/spaces/{space.id}/", json={"name": f"Bench {i}"})
            timings[mode].append((time.perf_counter() - start) * 1000)
            assert r.status_code == 200, r.text
    spaces_api.record = real_record
    async with UnitOfWork(tenant.id) as uow:
        written = await uow.session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "space.updated"))
    await dispose_engine()

    base = timings["without"]
    print(f"PATCH /api/v1/spaces/{{id}}/ in-process, {requests} requests each, interleaved; "
          f"{written} audit entries written")
    print(f"{'':12} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}   ratio p50 / p99 vs without")
    for mode, values in timings.items():
        print(f"{mode:12} {pct(values, 0.5):8.2f} {pct(values, 0.99):8.2f} {statistics.fmean(values):8.2f}   "
              f"{pct(values, 0.5) / pct(base, 0.5):.3f} / {pct(values, 0.99) / pct(base, 0.99):.3f}")
    added = pct(timings["with audit"], 0.5) - pct(base, 0.5)
    print(f"added by the audit entry: {added:+.2f} ms at p50, "
          f"{pct(timings['with audit'], 0.99) - pct(base, 0.99):+.2f} ms at p99")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    os.environ.update(SECRETS)
    with scratch_database("eneo-bench-audit-"):
        asyncio.run(run(args.requests))


if __name__ == "__main__":
    main()
