"""Admin function: the tenant's audit log (and, on its daily schedule, the purge of entries past their
retention period), token and storage usage, quotas, and the tenant's own settings."""

import asyncio
from typing import Any

from mangum import Mangum

from eneo.audit.api import router as audit
from eneo.audit.service import purge_expired
from eneo.core.health import database_check
from eneo.core.http import create_app
from eneo.tenants.settings_api import router as settings
from eneo.usage.api import router as usage

app = create_app("admin", [audit, usage, settings], {"database": database_check})
_http = Mangum(app, lifespan="off")


def handler(event: dict[str, Any], context: Any) -> Any:
    """HTTP API events go to the app; EventBridge's scheduled event purges expired audit entries, on the
    loop Mangum runs the app on (the database pool is bound to it)."""
    if event.get("source") == "aws.events":
        return {"purged": asyncio.get_event_loop().run_until_complete(purge_expired())}
    return _http(event, context)
