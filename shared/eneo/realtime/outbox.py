"""Frames to one WebSocket client, through API Gateway's `@connections` API, at a fraction of boto3's cost.

A relay posts one frame per entry it reads, so the post is on every token's path. boto3's
`post_to_connection` took ~3.6 ms a call here (parameter validation, event hooks, botocore's signer, and a
blocking HTTP request that stalls the event loop). This sends the same request, `POST
{endpoint}/@connections/{id}` signed with SigV4 for `execute-api` with the function's credentials, over one
kept-alive asynchronous HTTP client per instance, so the same code runs against AWS and the local stack.
"""

from __future__ import annotations

import asyncio
import json
import logging
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import httpx

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


_clients: dict[int, httpx.AsyncClient] = {}


def _client() -> httpx.AsyncClient:
    """One kept-alive client per event loop (a warm instance keeps one loop: eneo.core.aio)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(id(loop))
    if client is None or client.is_closed:
        _clients.clear()  # a client of a closed loop cannot be reused
        client = _clients[id(loop)] = httpx.AsyncClient(timeout=POST_TIMEOUT_SECONDS, trust_env=False)
    return client


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

    async def send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message, ensure_ascii=False).encode()
        for attempt in range(RETRIES + 1):
            creds = _credentials().get_frozen_credentials()
            headers = sign("POST", self.url, body, access_key=creds.access_key, secret_key=creds.secret_key,
                           token=creds.token, region=get_settings().aws_region, service="execute-api")
            try:
                response = await _client().post(self.url, content=body, headers=headers)
            except httpx.TransportError as exc:
                if attempt == RETRIES:
                    raise PostFailed(f"@connections unreachable: {type(exc).__name__}") from None
                continue
            if response.status_code == 410:
                raise Gone
            if response.status_code < 300:
                return
            if (response.status_code != 429 and response.status_code < 500) or attempt == RETRIES:
                log.error("post to connection failed", extra={"status": response.status_code,
                                                              "error": response.headers.get("x-amzn-errortype")})
                raise PostFailed(f"@connections answered {response.status_code}")

    async def error(self, code: str, message: str, **extra: Any) -> None:
        await self.send({"type": "error", "code": code, "message": message, **extra})
