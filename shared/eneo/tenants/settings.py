"""The organisation's own settings, read by any of its users and changed by its admins.

The tenants row is the sysadmin's to write (its RLS policy); the two settings a tenant decides for itself go
through `tenant_update_settings()` (infra/migrations 0026), which touches nothing else and only the
caller's own row. The audit retention only grows here: a tenant admin cannot shorten the trail of their
own actions.
"""

from sqlalchemy import select, text

from eneo.audit.models import Outcome
from eneo.audit.service import Target, changes, record
from eneo.auth.principal import Principal
from eneo.core.db import UnitOfWork
from eneo.core.errors import Forbidden
from eneo.tenants.models import Tenant
from eneo.tenants.schemas import TenantSettingsOut, TenantSettingsUpdate


async def _own(uow: UnitOfWork, p: Principal) -> Tenant:
    tenant = await uow.session.scalar(select(Tenant).where(Tenant.id == p.tenant_id))
    if tenant is None:  # the principal was resolved inside this tenant: its row is there
        raise RuntimeError("the caller's tenant row is not visible")
    return tenant


async def get_settings(uow: UnitOfWork, p: Principal) -> TenantSettingsOut:
    return TenantSettingsOut.model_validate(await _own(uow, p))


async def update_settings(uow: UnitOfWork, p: Principal, data: TenantSettingsUpdate) -> TenantSettingsOut:
    """Change what the body sets, recorded as `settings.updated`; a shorter audit retention is refused
    before anything is written, and the refusal is recorded too (committed before the error rolls back)."""
    tenant = await _own(uow, p)
    target = Target("tenant", tenant.id, tenant.name)
    days = data.audit_retention_days
    if days is not None and days < tenant.audit_retention_days:
        record(uow, p, "settings.updated", target, outcome=Outcome.failure,
               details={**changes(data), "code": "audit_retention_shortened"})
        await uow.commit()
        raise Forbidden(f"The audit log keeps entries for {tenant.audit_retention_days} days; only the "
                        "platform operator can shorten that", code="audit_retention_shortened",
                        details=[{"field": "audit_retention_days", "current": tenant.audit_retention_days}])
    await uow.session.execute(text("SELECT tenant_update_settings(:protect, :days)"),
                              {"protect": data.protect_personal_data, "days": days})
    await uow.session.refresh(tenant)
    record(uow, p, "settings.updated", target, details=changes(data))
    return TenantSettingsOut.model_validate(tenant)
