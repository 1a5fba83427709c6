"""Tenant use cases; all of them are the sysadmin's."""

import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from eneo.core.db import UnitOfWork
from eneo.core.errors import Conflict, NotFound
from eneo.core.pagination import paginate
from eneo.tenants.models import Tenant
from eneo.tenants.schemas import TenantCreate, TenantUpdate


async def _flush_unique_name(uow: UnitOfWork, name: str) -> None:
    try:
        await uow.session.flush()
    except IntegrityError:
        await uow.rollback()
        raise Conflict(f"A tenant named '{name}' already exists", code="tenant_name_taken") from None


async def create_tenant(uow: UnitOfWork, data: TenantCreate) -> Tenant:
    tenant = Tenant(name=data.name)
    uow.session.add(tenant)
    await _flush_unique_name(uow, data.name)
    return tenant


async def get_tenant(uow: UnitOfWork, tenant_id: uuid.UUID) -> Tenant:
    tenant = await uow.session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("Tenant")
    return tenant


async def list_tenants(uow: UnitOfWork, *, limit: int, cursor: str | None) -> tuple[list[Tenant], str | None]:
    return await paginate(uow.session, select(Tenant), Tenant, limit=limit, cursor=cursor)


async def update_tenant(uow: UnitOfWork, tenant_id: uuid.UUID, data: TenantUpdate) -> Tenant:
    tenant = await get_tenant(uow, tenant_id)
    for field, value in data.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(tenant, field, value)
    await _flush_unique_name(uow, tenant.name)
    return tenant
