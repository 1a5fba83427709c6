"""Knowledge function: collections in spaces, documents (info-blobs), uploads, retries, limits, and search."""

from mangum import Mangum

from eneo.core.health import database_check
from eneo.core.http import create_app
from eneo.knowledge.api import blobs, groups, in_space
from eneo.knowledge.limits import router as limits
from eneo.retrieval.api import router as searches

app = create_app("knowledge", [in_space, groups, blobs, limits, searches], {"database": database_check})
handler = Mangum(app, lifespan="off")
