"""Models function: model providers (encrypted credentials), and the completion and embedding models a tenant
offers."""

from mangum import Mangum

from eneo.core.health import database_check
from eneo.core.http import create_app
from eneo.model_providers.api import models, providers
from eneo.model_providers.embedding_api import embedding_models

app = create_app("models", [providers, models, embedding_models], {"database": database_check})
handler = Mangum(app, lifespan="off")
