"""Models function: model providers (encrypted credentials) and the completion models a tenant offers."""

from mangum import Mangum

from eneo.core.health import database_check
from eneo.core.http import create_app
from eneo.model_providers.api import models, providers

app = create_app("models", [providers, models], {"database": database_check})
handler = Mangum(app, lifespan="off")
