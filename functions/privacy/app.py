"""Privacy function: retention periods of conversations (tenant, space, assistant)."""

from mangum import Mangum

from eneo.core.health import database_check
from eneo.core.http import create_app
from eneo.privacy.api import router

app = create_app("privacy", [router], {"database": database_check})
handler = Mangum(app, lifespan="off")
