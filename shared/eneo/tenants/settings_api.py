"""`/api/v1/settings/`: the organisation's own settings for its admins (the sysadmin's tenant routes are in
eneo.tenants.api). Who may read and change them is eneo.permissions.policy's decision."""

from fastapi import APIRouter

from eneo.auth.deps import CurrentUser
from eneo.tenants import settings
from eneo.tenants.schemas import TenantSettingsOut, TenantSettingsUpdate

router = APIRouter(prefix="/api/v1/settings", tags=["settings"])


@router.get("/")
async def get_settings(ctx: CurrentUser) -> TenantSettingsOut:
    """Whether personal data is masked for every assistant, and how long the audit log keeps an entry."""
    return await settings.get_settings(ctx.uow, ctx.principal)


@router.patch("/")
async def update_settings(ctx: CurrentUser, body: TenantSettingsUpdate) -> TenantSettingsOut:
    """Set `protect_personal_data` and/or lengthen `audit_retention_days` (30 to 3650; shorter: 403
    `audit_retention_shortened`). Recorded in the audit log as `settings.updated`."""
    return await settings.update_settings(ctx.uow, ctx.principal, body)
