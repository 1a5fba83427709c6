"""Knowledge function: collections in spaces, documents (info-blobs), uploads, retries, limits, search, and
websites (crawled into collections of their own) with their crawl runs."""

from mangum import Mangum

from eneo.core.health import database_check
from eneo.core.http import create_app
from eneo.knowledge.api import blobs, groups, in_space
from eneo.knowledge.limits import router as limits
from eneo.retrieval.api import router as searches
from eneo.websites.api import in_space as websites_in_space
from eneo.websites.api import runs as crawl_runs
from eneo.websites.api import websites

app = create_app("knowledge", [websites_in_space, in_space, groups, blobs, limits, searches, websites, crawl_runs],
                 {"database": database_check})
handler = Mangum(app, lifespan="off")
