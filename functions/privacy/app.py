"""Privacy function: retention periods of conversations (tenant, space, assistant), a user's data export and erasure."""

from mangum import Mangum

from eneo.core.health import database_check, redis_check
from eneo.core.http import create_app
from eneo.privacy.api import router, users

app = create_app("privacy", [router, users], {"database": database_check, "redis": redis_check})
handler = Mangum(app, lifespan="off")
