"""Frames to one WebSocket client, through API Gateway's `@connections` API, at a fraction of boto3's cost.

A relay posts one frame per entry it reads, so the post is on every token's path. boto3's
`post_to_connection` took ~3.6 ms a call here (parameter validation, event hooks, botocore's signer, and a
blocking HTTP request that stalls the event loop). This sends the same request, `POST
{endpoint}/@connections/{id}` signed with SigV4 for `execute-api` with the function's credentials, over one
kept-alive asynchronous HTTP session per event loop, so the same code runs against AWS and the local stack.

The session is aiohttp's, not httpx's (which the rest of the code uses through the provider SDKs): a post
cost 1.1 ms of CPU with httpx and 0.26 ms with aiohttp against the same local server, and the relay spends
that time on every frame (bench/streaming_latency.py: per-token delay added by the platform).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import logging
import weakref
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from eneo.core.settings import get_settings
from eneo.realtime.sigv4 import sign

log = logging.getLogger("eneo.realtime")

POST_TIMEOUT_SECONDS = 10.0
RETRIES = 2  # throttled (429), 5xx or a dropped connection: tried again at once, as boto3's retries would


class Gone(Exception):
    """The client is no longer connected (410 GoneException)."""


class PostFailed(Exception):
    """`@connections` refused the post for another reason than a closed connection."""


@lru_cache
def _credentials() -> Any:
    """The function's credentials (environment on Lambda and locally); refreshable ones renew themselves."""
    import botocore.session

    credentials = botocore.session.get_session().get_credentials()
    if credentials is None:
        raise PostFailed("no AWS credentials to sign @connections requests with")
    return credentials


_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = weakref.WeakKeyDictionary()


def _session() -> aiohttp.ClientSession:
    """One kept-alive session per event loop (a warm instance keeps one loop: eneo.core.aio); a session's
    connections are bound to the loop that opened them, and go with it."""
    loop = asyncio.get_running_loop()
    session = _sessions.get(loop)
    if session is None or session.closed:
        session = _sessions[loop] = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=POST_TIMEOUT_SECONDS), skip_auto_headers=("User-Agent",))
    return session


@atexit.register
def _close_sessions() -> None:
    """Close the kept-alive sessions when the process ends (an unclosed one logs an error as it is collected);
    one whose loop is already closed is only marked closed: its connections go with the process."""
    for loop, session in list(_sessions.items()):
        if loop.is_closed() or loop.is_running():
            session.detach()
        else:
            loop.run_until_complete(session.close())
    _sessions.clear()


def management_endpoint(event: dict[str, Any]) -> str:
    """The `@connections` endpoint: configured (WEBSOCKET_MANAGEMENT_URL), else the API the event came through."""
    rc = event.get("requestContext") or {}
    return get_settings().websocket_management_url or f"https://{rc.get('domainName')}/{rc.get('stage')}"


class Outbox:
    """Posts frames to one connection, in the order they are sent."""

    def __init__(self, endpoint: str, connection_id: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.connection_id = connection_id
        self.url = f"{self.endpoint}/@connections/{quote(connection_id, safe='')}"
        self._target = URL(self.url, encoded=True)  # sent exactly as signed (yarl would requote "%3D" as "=")

    async def send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message, ensure_ascii=False).encode()
        for attempt in range(RETRIES + 1):
            creds = _credentials().get_frozen_credentials()
            headers = sign("POST", self.url, body, access_key=creds.access_key, secret_key=creds.secret_key,
                           token=creds.token, region=get_settings().aws_region, service="execute-api")
            try:
                async with _session().post(self._target, data=body, headers=headers) as response:
                    status, error_type = response.status, response.headers.get("x-amzn-errortype")
                    await response.read()  # the connection goes back to the pool for the next frame
            except (aiohttp.ClientError, TimeoutError) as exc:
                if attempt == RETRIES:
                    raise PostFailed(f"@connections unreachable: {type(exc).__name__}") from None
                continue
            if status == 410:
                raise Gone
            if status < 300:
                return
            if (status != 429 and status < 500) or attempt == RETRIES:
                log.error("post to connection failed", extra={"status": status, "error": error_type})
                raise PostFailed(f"@connections answered {status}")

    async def error(self, code: str, message: str, **extra: Any) -> None:
        await self.send({"type": "error", "code": code, "message": message, **extra})
