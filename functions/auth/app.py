"""Auth function: tenants (sysadmin), users, login tokens, API keys, single sign-on, tenant roles and user
groups."""

from mangum import Mangum

from eneo.api_keys.api import router as api_keys
from eneo.core.health import database_check, redis_check
from eneo.core.http import create_app
from eneo.sso.api import router as sso
from eneo.tenants.api import router as tenants
from eneo.users.access_api import roles, user_groups
from eneo.users.api import router as users

app = create_app("auth", [tenants, users, api_keys, sso, roles, user_groups],
                 {"database": database_check, "redis": redis_check})
handler = Mangum(app, lifespan="off")
