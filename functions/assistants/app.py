"""Assistants function: assistants in spaces, and their prompt history."""

from mangum import Mangum

from eneo.assistants.api import in_space, router
from eneo.core.health import database_check
from eneo.core.http import create_app

app = create_app("assistants", [in_space, router], {"database": database_check})
handler = Mangum(app, lifespan="off")
