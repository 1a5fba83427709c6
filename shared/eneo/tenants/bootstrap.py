"""The first tenant and its admin, created on a fresh installation."""

from sqlalchemy import exists, select

from eneo.auth.passwords import check_password
from eneo.core.db import UnitOfWork
from eneo.core.ids import new_id
from eneo.core.settings import get_settings
from eneo.tenants.models import Tenant
from eneo.users.models import UserRole
from eneo.users.schemas import UserCreate
from eneo.users.service import create_user


async def ensure_first_tenant(tenant_name: str, email: str, password: str) -> bool:
    """Create the tenant and an active admin unless any tenant exists; True if it created them.

    Both are written in one transaction (bound to the new tenant, as the sysadmin), so a refused
    admin (a short password, say) leaves no tenant behind that would block the next attempt.
    """
    admin = UserCreate(email=email, name="Administrator", role=UserRole.admin, password=password)
    check_password(password, email=email)  # refused at once, whether or not a tenant exists (as the schema was)
    tenant_id = new_id()
    async with UnitOfWork(tenant_id, sysadmin=True) as uow:
        if await uow.session.scalar(select(exists().where(Tenant.id.is_not(None)))):
            return False
        uow.session.add(Tenant(id=tenant_id, name=tenant_name))
        await uow.session.flush()
        await create_user(uow, get_settings(), tenant_id, admin)
        return True
