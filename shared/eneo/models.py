"""Every table, imported in one place for migrations and tests."""

from eneo.api_keys.models import ApiKey
from eneo.core.db import Base
from eneo.spaces.models import Space, SpaceMember
from eneo.tenants.models import Tenant
from eneo.users.models import User

__all__ = ["ApiKey", "Base", "Space", "SpaceMember", "Tenant", "User"]
