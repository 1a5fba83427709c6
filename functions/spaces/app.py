"""Spaces function: spaces and their members."""

from mangum import Mangum

from eneo.core.health import database_check
from eneo.core.http import create_app
from eneo.spaces.api import router as spaces

app = create_app("spaces", [spaces], {"database": database_check})
handler = Mangum(app, lifespan="off")
