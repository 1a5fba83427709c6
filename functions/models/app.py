"""Models function: model providers (encrypted credentials), and the completion, embedding and transcription
models a tenant offers, and the security classifications they and spaces carry."""

from mangum import Mangum

from eneo.classifications.api import router as classifications
from eneo.core.health import database_check
from eneo.core.http import create_app
from eneo.model_providers.api import models, providers
from eneo.model_providers.embedding_api import embedding_models
from eneo.model_providers.transcription_api import transcription_models

routers = [providers, models, embedding_models, transcription_models, classifications]
app = create_app("models", routers, {"database": database_check})
handler = Mangum(app, lifespan="off")
