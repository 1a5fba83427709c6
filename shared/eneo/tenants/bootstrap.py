"""The first tenant and its admin, created on a fresh installation."""

from sqlalchemy import exists, select

from eneo.core.db import UnitOfWork
from eneo.core.settings import get_settings
from eneo.tenants.models import Tenant
from eneo.users.models import UserRole
from eneo.users.schemas import UserCreate
from eneo.users.service import create_user


async def ensure_first_tenant(tenant_name: str, email: str, password: str) -> bool:
    """Create the tenant and an active admin unless any tenant exists; True if it created them."""
    async with UnitOfWork(sysadmin=True) as uow:
        if await uow.session.scalar(select(exists().where(Tenant.id.is_not(None)))):
            return False
        tenant = Tenant(name=tenant_name)
        uow.session.add(tenant)
        await uow.commit()
        uow.act_as(tenant.id)
        await create_user(uow, get_settings(), tenant.id,
                          UserCreate(email=email, name="Administrator", role=UserRole.admin, password=password))
        return True
