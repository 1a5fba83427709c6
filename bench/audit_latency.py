"""What writing an audit entry adds to a write route: p50/p99 with and without, in the same run.

The functions' apps run in-process (as Mangum would call them) against a scratch Postgres (pgserver,
migrated, Row-Level Security on: the app connects as the functions' role), authenticated with an API key.

1. `PATCH /api/v1/spaces/{id}/` (rename), which records `space.updated` in the request's own transaction.
   The baseline is the same route with the route's `record` replaced by a function that does nothing.
2. `PUT /api/v1/retention/spaces/{id}/`, which records `retention.set` in the request's transaction too,
   against the way it used to: a short transaction of its own after the change (a pool checkout, BEGIN,
   the tenant binding, the INSERT and a COMMIT: the round trips this measures), and against none.

The modes run interleaved (with, without, with, ...), so load on the machine falls on all alike.

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
           "ENCRYPTION_KEY": "bench-encryption-key-0123456789abcdef0123", "LOG_LEVEL": "WARNING",
           # No Redis here: without these, every request would first fail to reach it for its rate limit,
           # and that, not the audit entry, would be what the run measures.
           "RATE_LIMIT_USER_PER_MINUTE": "0", "RATE_LIMIT_API_KEY_PER_MINUTE": "0"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(requests: int) -> None:
    import httpx
    from sqlalchemy import func, select

    import eneo.privacy.api as privacy_api
    import eneo.spaces.api as spaces_api
    from eneo.api_keys.schemas import ApiKeyCreate
    from eneo.api_keys.service import create_key
    from eneo.audit.models import AuditEntry
    from eneo.auth.principal import Principal
    from eneo.core.db import UnitOfWork, dispose_engine
    from eneo.core.settings import get_settings
    from eneo.privacy import audit as privacy_audit
    from eneo.privacy import retention
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

    # 2. The retention route: in the request's transaction (as it is), in one of its own (as it was), none.
    real_audit, real_set = privacy_api._audit, retention.set_space_retention

    def no_audit(*_: Any, **__: Any) -> None:
        return None

    async def set_then_own_transaction(uow: Any, who: Any, space_id: Any, days: int) -> Any:
        """The former route: the change, then its entry written and committed in a transaction of its own."""
        out = await real_set(uow, who, space_id, days)
        await privacy_audit.record("retention.set", tenant_id=who.tenant_id, actor_id=who.user_id,
                                   target_id=space_id, target_type="space", details={"days": days})
        return out

    kept: dict[str, list[float]] = {"request's": [], "own txn": [], "without": []}
    privacy = httpx.ASGITransport(app=load_function("privacy").app, client=("203.0.113.7", 1234))
    async with httpx.AsyncClient(transport=privacy, base_url="http://eneo.test",
                                 headers={"X-API-Key": key}) as client:
        url = f"/api/v1/retention/spaces/{space.id}/"
        for warm in range(50):
            await client.put(url, json={"days": 30 + warm})
        for i in range(requests * 3):
            mode = list(kept)[i % 3]
            privacy_api._audit = real_audit if mode == "request's" else no_audit  # type: ignore[assignment]
            retention.set_space_retention = set_then_own_transaction if mode == "own txn" else real_set  # type: ignore[assignment]
            start = time.perf_counter()
            r = await client.put(url, json={"days": 30 + i % 300})
            kept[mode].append((time.perf_counter() - start) * 1000)
            assert r.status_code == 200, r.text
    privacy_api._audit, retention.set_space_retention = real_audit, real_set  # type: ignore[assignment]

    async with UnitOfWork(tenant.id) as uow:
        written = await uow.session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "space.updated"))
        retained = await uow.session.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "retention.set"))
    await dispose_engine()

    report(f"PATCH /api/v1/spaces/{{id}}/ in-process, {requests} requests each, interleaved; "
           f"{written} audit entries written", timings, "without")
    report(f"PUT /api/v1/retention/spaces/{{id}}/ in-process, {requests} requests each, interleaved; "
           f"{retained} audit entries written", kept, "without")


def report(title: str, timings: dict[str, list[float]], baseline: str) -> None:
    base = timings[baseline]
    print(title)
    print(f"{'':12} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}   ratio p50 / p99 vs {baseline}")
    for mode, values in timings.items():
        print(f"{mode:12} {pct(values, 0.5):8.2f} {pct(values, 0.99):8.2f} {statistics.fmean(values):8.2f}   "
              f"{pct(values, 0.5) / pct(base, 0.5):.3f} / {pct(values, 0.99) / pct(base, 0.99):.3f}")
    for mode, values in timings.items():
        if mode != baseline:
            print(f"added by the audit entry ({mode}): {pct(values, 0.5) - pct(base, 0.5):+.2f} ms at p50, "
                  f"{pct(values, 0.99) - pct(base, 0.99):+.2f} ms at p99")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    os.environ.update(SECRETS)
    with scratch_database("eneo-bench-audit-"):
        asyncio.run(run(args.requests))


if __name__ == "__main__":
    main()
