"""The first tenant and admin of a fresh installation, and how to log in as them.

The domain creates them (`eneo.tenants.bootstrap.ensure_first_tenant`); this module only decides
the inputs (ENEO_TENANT_NAME, ENEO_ADMIN_EMAIL, ENEO_ADMIN_PASSWORD or a generated password kept in
`<data_dir>/initial-admin-password`) and prints the way in. The domain code reads its settings
from the process environment, so the caller sets DATABASE_URL & co. before calling `ensure_admin`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eneo_local.parameters import PASSWORD_FILE, admin_password

log = logging.getLogger("eneo_local.bootstrap")


class BootstrapError(RuntimeError):
    """Creating the first tenant failed for a reason other than "already done"."""


@dataclass(frozen=True)
class AdminLogin:
    tenant: str
    email: str
    password: str
    password_file: Path | None  # where the generated password is kept, if it was generated
    created: bool | None  # None: the domain's bootstrap is not available
    note: str = ""


async def ensure_admin(data_dir: Path, env: Mapping[str, str] | None = None) -> AdminLogin:
    """Create the first tenant and its admin unless a tenant exists."""
    env = os.environ if env is None else env
    tenant = env.get("ENEO_TENANT_NAME") or "Default"
    email = env.get("ENEO_ADMIN_EMAIL") or "admin@example.org"
    had_file = (data_dir / PASSWORD_FILE).exists()
    password, generated = admin_password(data_dir, env)
    password_file = data_dir / PASSWORD_FILE if generated else None
    try:
        from eneo.tenants.bootstrap import ensure_first_tenant
    except ImportError as exc:
        return AdminLogin(tenant, email, password, password_file, None, note=(
            f"no tenant or admin was created: eneo.tenants.bootstrap.ensure_first_tenant is not available ({exc})"))
    from eneo.core.db import dispose_engine

    try:
        created = await ensure_first_tenant(tenant, email, password)
    except Exception as exc:
        raise BootstrapError(f"creating the first tenant {tenant!r} and admin {email} failed: "
                             f"{type(exc).__name__}: {_describe(exc)}") from exc
    finally:
        await dispose_engine()
    if not created and generated and not had_file:
        # A password made up just now for an installation that already has its admin: useless.
        (data_dir / PASSWORD_FILE).unlink(missing_ok=True)
        password_file = None
    return AdminLogin(tenant, email, password, password_file, created)


def _describe(exc: Exception) -> str:
    """The error without the values it was given: a pydantic error would quote the password."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        with contextlib.suppress(TypeError, AttributeError):  # not pydantic's shape: fall through
            return "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in errors())
    details = getattr(exc, "details", None)
    if isinstance(details, list) and details:
        return "; ".join(f"{d.get('field')}: {d.get('message')}" for d in details if isinstance(d, dict))
    return str(exc)


def login_instructions(base_url: str, login: AdminLogin) -> str:
    """What `eneo-local up` prints once it is ready: where to go, who to be, how to try it."""
    lines = [f"Eneo is up at {base_url}"]
    if login.created is None:
        lines.append(f"  WARNING: {login.note}")
        return "\n".join(lines)
    lines.append(f"  tenant:   {login.tenant}" + (" (created now)" if login.created else ""))
    lines.append(f"  admin:    {login.email}")
    if login.created and login.password_file is not None:
        lines.append(f"  password: {login.password}   (kept in {login.password_file})")
        curl_form = f"--data-urlencode password@{shlex.quote(str(login.password_file))}"
    elif login.password_file is not None:
        lines.append(f"  password: in {login.password_file}")
        curl_form = f"--data-urlencode password@{shlex.quote(str(login.password_file))}"
    elif login.created:
        lines.append("  password: the one in ENEO_ADMIN_PASSWORD")
        curl_form = "--data-urlencode \"password=$ENEO_ADMIN_PASSWORD\""
    else:
        lines.append("  password: the one set on the first run (ENEO_ADMIN_PASSWORD then)")
        curl_form = "--data-urlencode 'password=<password>'"
    lines += [
        "  try it:",
        f"    TOKEN=$(curl -s -X POST {base_url}/api/v1/users/login/token/ \\",
        f"      --data-urlencode username={shlex.quote(login.email)} {curl_form} \\",
        "      | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')",
        f"    curl -s -H \"Authorization: Bearer $TOKEN\" {base_url}/api/v1/spaces/",
    ]
    return "\n".join(lines)


async def register_local_model(base_url: str, *, model: str, display_name: str, context_window: int,
                               provider_name: str, log_file: str | None = None) -> int:
    """Offer the local model server to every active tenant (see eneo.model_providers's
    `ensure_managed_provider`: an admin's deletion, disabling or choice of default is kept).

    Runs at every start, because the server's port (and the data folder with its `log_file`, which a
    question names while the server is down) may change; returns the number of tenants.
    """
    from eneo.core.db import UnitOfWork, dispose_engine
    from eneo.ingestion.sweep import active_tenants
    from eneo.model_providers.service import ensure_managed_provider

    try:
        tenants = await active_tenants()
        async with UnitOfWork(sysadmin=True) as uow:
            for tenant_id in tenants:
                uow.act_as(tenant_id)
                await ensure_managed_provider(uow, name=provider_name, base_url=base_url, model=model,
                                              display_name=display_name, context_window=context_window,
                                              log_file=log_file)
        return len(tenants)
    finally:
        await dispose_engine()


async def resume_ingestion(environment: Mapping[str, str]) -> int:
    """Resume every active tenant's documents left mid-pipeline, however recent (the scheduled sweep,
    eneo.ingestion.sweep, with no age limit): moto's queues start empty, so the messages they were waiting
    for are gone. `environment` is a function's: the settings are the ones that function would read (its
    bucket, queues and endpoints over this process's environment, which names none of them), and every
    storage call of the resume uses them. Returns the number of documents re-queued."""
    from eneo.core.db import dispose_engine
    from eneo.core.redis import close_redis
    from eneo.core.settings import Settings
    from eneo.ingestion.sweep import sweep_unfinished

    function_env: dict[str, Any] = {k.lower(): v for k, v in environment.items() if k.lower() in Settings.model_fields}
    settings = Settings(**function_env)  # validated like the environment; the rest read from it
    try:
        return (await sweep_unfinished(settings, older_than_seconds=0)).resumed
    finally:
        await dispose_engine()
        await close_redis()


async def resume_answers(submit: Callable[[uuid.UUID, uuid.UUID], None]) -> tuple[int, int]:
    """Hand every active tenant's questions still `queued` to `complete` again (`submit`) and fail the ones left
    `streaming` by the last stop (eneo.answers.recovery.resume_answers). Returns (re-invoked, failed as lost)."""
    from eneo.answers.recovery import resume_answers as resume_tenant
    from eneo.core.db import dispose_engine
    from eneo.core.redis import close_redis
    from eneo.ingestion.sweep import active_tenants

    invoked = lost = 0
    try:
        for tenant_id in await active_tenants():
            done = await resume_tenant(tenant_id, submit)
            invoked, lost = invoked + done[0], lost + done[1]
        return invoked, lost
    finally:
        await dispose_engine()
        await close_redis()
