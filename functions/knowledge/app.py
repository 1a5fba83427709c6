"""Knowledge function: collections in spaces, documents (info-blobs), uploads, retries, limits, and search."""

from importlib.util import find_spec

from mangum import Mangum

from eneo.core.health import database_check
from eneo.core.http import create_app
from eneo.knowledge.api import blobs, groups, in_space
from eneo.knowledge.limits import router as limits

routers = [in_space, groups, blobs, limits]
# POST /api/v1/groups/{id}/searches/ lives with retrieval. TODO(Lead): import it unconditionally once
# eneo.retrieval.api has landed.
if find_spec("eneo.retrieval.api") is not None:
    from eneo.retrieval.api import router as searches

    routers.append(searches)

app = create_app("knowledge", routers, {"database": database_check})
handler = Mangum(app, lifespan="off")
