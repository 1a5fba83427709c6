"""Sysadmin routes: tenants and their first users."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, status

from eneo.audit.service import SYSADMIN, Target, changes, record
from eneo.auth.deps import SysAdmin
from eneo.core.pagination import Page, PageQuery
from eneo.core.settings import get_settings
from eneo.tenants import service
from eneo.tenants.schemas import TenantCreate, TenantOut, TenantUpdate
from eneo.users import service as users
from eneo.users.schemas import UserCreate, UserCreated

router = APIRouter(prefix="/api/v1/sysadmin", tags=["sysadmin"])


@router.post("/tenants/", status_code=status.HTTP_201_CREATED)
async def create_tenant(uow: SysAdmin, body: TenantCreate) -> TenantOut:
    tenant = await service.create_tenant(uow, body)
    record(uow, SYSADMIN, "tenant.created", Target("tenant", tenant.id, tenant.name), tenant_id=tenant.id)
    return TenantOut.model_validate(tenant)


@router.get("/tenants/")
async def list_tenants(uow: SysAdmin, page: Annotated[PageQuery, Depends()]) -> Page[TenantOut]:
    rows, cursor = await service.list_tenants(uow, limit=page.limit, cursor=page.cursor)
    return Page(items=[TenantOut.model_validate(t) for t in rows], next_cursor=cursor)


@router.get("/tenants/{tenant_id}/")
async def get_tenant(uow: SysAdmin, tenant_id: uuid.UUID) -> TenantOut:
    return TenantOut.model_validate(await service.get_tenant(uow, tenant_id))


@router.patch("/tenants/{tenant_id}/")
async def update_tenant(uow: SysAdmin, tenant_id: uuid.UUID, body: TenantUpdate) -> TenantOut:
    """Set `state` to `suspended` to lock a tenant's users out (403 `tenant_suspended`), `active` to undo;
    `audit_retention_days` (30 to 3650) is how long the tenant's audit log keeps an entry."""
    tenant = await service.update_tenant(uow, tenant_id, body)
    record(uow, SYSADMIN, "tenant.updated", Target("tenant", tenant.id, tenant.name), tenant_id=tenant.id,
           details=changes(body))
    return TenantOut.model_validate(tenant)


@router.post("/tenants/{tenant_id}/users/", status_code=status.HTTP_201_CREATED)
async def create_tenant_user(uow: SysAdmin, tenant_id: uuid.UUID, body: UserCreate) -> UserCreated:
    """A tenant's first admin (or any user), created by the sysadmin."""
    await service.get_tenant(uow, tenant_id)
    await uow.commit()  # ends the read: act_as binds the next transaction to the tenant
    uow.act_as(tenant_id)
    created = await users.create_user(uow, get_settings(), tenant_id, body)
    record(uow, SYSADMIN, "user.created", Target("user", created.id, created.email), tenant_id=tenant_id,
           details={"role": created.role, "state": created.state})
    return created
