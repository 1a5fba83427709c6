"""The WebSocket API's routes: `$connect`, `$disconnect`, `subscribe`, `subscribe_events` and `$default`.

Protocol (client → server): `{"action": "subscribe", "question_id": "...", "last_id": "..."?}` for an
answer, `{"action": "subscribe_events", "last_id": "..."?}` for the user's status events (documents
being ingested: `{"type": "info_blob.status", "id": <entry id>, "data": {...}}`; first `{"type": "subscribed", "stream":
"events", "last_id"}`). One answer relay and one events relay per connection at a time: a new
subscribe replaces the one before it in its slot.
Server → client, one JSON object per frame: the answer stream's entries as
`{"type": "first_chunk"|"text"|"done"|"error", "id", "question_id", ...}`; `{"type": "resubscribe",
"question_id", "last_id"}` when this relay must end before the answer does (send `subscribe` again
with that `last_id`; for events it carries `"stream": "events"` instead of the question id); and
`{"type": "error", "code", "message"}` for a refused message.

Browsers cannot set headers on a WebSocket, so `$connect` also takes the access token or API key
from the query string (`?token=` / `?api_key=`); API Gateway does not log query strings unless told
to, and our logs never carry them.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any

from eneo.answers.recovery import abandon_if_lost, end_stream
from eneo.answers.stream import START, AnswerStream, Entry, EntryStream, coalesce, valid_entry_id
from eneo.auth.principal import Principal, from_access_token, from_api_key, recheck
from eneo.core.db import UnitOfWork
from eneo.core.errors import AppError
from eneo.core.redis import get_redis
from eneo.core.settings import get_settings
from eneo.realtime import connections
from eneo.realtime.connections import Connection
from eneo.realtime.events import UserEvents
from eneo.sessions.models import Question, QuestionStatus

log = logging.getLogger("eneo.realtime")

RELAY_MARGIN_SECONDS = 3.0  # stop relaying this long before the function's timeout, and say so
READ_BLOCK_MS = 5000
# A relay waiting on a quiet answer looks at the saved question this often: if it is final (its writer died
# before the terminal entry) or lost (its writer died mid-answer), the relay ends the stream itself, so a
# WebSocket-only client learns the outcome within the abandonment time instead of resubscribing for ever.
RECHECK_SECONDS = 10.0


class Gone(Exception):
    """The client is no longer connected."""


@lru_cache
def _management_client(endpoint: str) -> Any:
    import boto3

    return boto3.client("apigatewaymanagementapi", endpoint_url=endpoint, region_name=get_settings().aws_region)


class Outbox:
    """Posts frames to one connection through the `@connections` API."""

    def __init__(self, event: dict[str, Any], connection_id: str) -> None:
        rc = event.get("requestContext") or {}
        endpoint = get_settings().websocket_management_url or f"https://{rc.get('domainName')}/{rc.get('stage')}"
        self.client = _management_client(endpoint)
        self.connection_id = connection_id

    def send(self, message: dict[str, Any]) -> None:
        try:
            self.client.post_to_connection(ConnectionId=self.connection_id,
                                           Data=json.dumps(message, ensure_ascii=False).encode())
        except self.client.exceptions.GoneException:
            raise Gone from None

    def error(self, code: str, message: str, **extra: Any) -> None:
        self.send({"type": "error", "code": code, "message": message, **extra})


def _credentials(event: dict[str, Any]) -> tuple[str, str] | None:
    query = event.get("queryStringParameters") or {}
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    if key := query.get("api_key") or headers.get("x-api-key"):
        return "api_key", key.strip()
    if token := query.get("token"):
        return "token", token.strip()
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return "token", value.strip()
    return None


async def connect(event: dict[str, Any], connection_id: str) -> dict[str, Any]:
    """Accept the connection only for a valid token or API key; the status code answers the handshake."""
    creds = _credentials(event)
    if creds is None:
        return {"statusCode": 401, "body": "Send ?token=<access token> or ?api_key=<key>"}
    kind, secret = creds
    settings = get_settings()
    try:
        async with UnitOfWork() as uow:
            principal: Principal = await (from_api_key(uow, settings, secret) if kind == "api_key"
                                          else from_access_token(uow, settings, secret))
    except AppError as exc:
        log.info("websocket refused", extra={"connection_id": connection_id, "code": exc.code})
        return {"statusCode": exc.status, "body": exc.message}
    await connections.remember(get_redis(), Connection(connection_id, principal.tenant_id, principal.user_id,
                                                       principal.assistant_id, principal.key_id,
                                                       principal.generation))
    log.info("websocket connected", extra={"connection_id": connection_id, "tenant_id": str(principal.tenant_id)})
    return {"statusCode": 200}


async def _owned_question(connection: Connection, question_id: uuid.UUID) -> Question | None:
    """The question if this connection's user asked it, while the credential it connected with holds
    (account active, API key not revoked, no password change since)."""
    async with UnitOfWork(connection.tenant_id) as uow:
        await recheck(uow, connection.user_id, key_id=connection.key_id, generation=connection.generation)
        question = await uow.session.get(Question, question_id)
    if question is None or question.user_id != connection.user_id or (
            connection.assistant_id is not None and question.assistant_id != connection.assistant_id):
        return None
    if not await abandon_if_lost(question):  # when it does, its stream ends with `answer_lost`
        await end_stream(question)  # final, but its writer may have died before the terminal entry
    return question


async def _recheck_question(connection: Connection, question_id: uuid.UUID) -> None:
    """End the stream of a question that became final or was lost while a relay waited on it."""
    async with UnitOfWork(connection.tenant_id) as uow:
        question = await uow.session.get(Question, question_id)
    if question is not None and not await abandon_if_lost(question):
        await end_stream(question)


async def subscribe(message: dict[str, Any], connection: Connection, outbox: Outbox, context: Any) -> None:
    """Relay `answer:{question_id}` from `last_id` to the connection until `done`/`error`."""
    try:
        question_id = uuid.UUID(str(message.get("question_id")))
    except ValueError:
        outbox.error("invalid_message", "question_id must be the id of one of your questions")
        return
    last_id = message.get("last_id") or START
    if not isinstance(last_id, str) or not valid_entry_id(last_id):
        outbox.error("invalid_message", "last_id must be an id this stream sent (like 1700000000000-0)",
                     question_id=str(question_id))
        return
    try:
        question = await _owned_question(connection, question_id)
    except AppError as exc:  # deactivated, suspended, key revoked or password changed since $connect
        outbox.error(exc.code, exc.message, question_id=str(question_id))
        return
    if question is None:
        outbox.error("question_not_found", "Question not found", question_id=str(question_id))
        return
    stream = AnswerStream(get_redis(), question_id, get_settings().answer_stream_ttl_seconds)
    if question.status in (QuestionStatus.completed, QuestionStatus.failed) and not await stream.exists():
        outbox.error("stream_expired", f"This answer's stream has expired; read it from "
                                       f"/api/v1/questions/{question_id}/", question_id=str(question_id))
        return
    if end := await stream.end_already_read(last_id):
        outbox.send(end.as_message(question_id))  # the client has it all: say so again and stop
        return
    last_id = await _relay(stream, last_id, connection, outbox, context, "answer",
                           lambda entry: entry.as_message(question_id),
                           recheck=lambda: _recheck_question(connection, question_id))
    if last_id is not None:
        outbox.send({"type": "resubscribe", "question_id": str(question_id), "last_id": last_id})


async def subscribe_events(message: dict[str, Any], connection: Connection, outbox: Outbox, context: Any) -> None:
    """Relay the user's status events (`events:{user_id}`) from `last_id`, or from now on, until the
    function's deadline; then `{"type": "resubscribe", "stream": "events", "last_id"}`."""
    if connection.assistant_id is not None:  # status events span every space: not for a key held to one assistant
        outbox.error("api_key_scope", "This API key is restricted to one assistant; status events need a "
                     "user-wide API key or an access token", stream="events")
        return
    last_id = message.get("last_id")
    if last_id is not None and (not isinstance(last_id, str) or not valid_entry_id(last_id)):
        outbox.error("invalid_message", "last_id must be an id this stream sent (like 1700000000000-0)",
                     stream="events")
        return
    try:
        async with UnitOfWork(connection.tenant_id) as uow:
            await recheck(uow, connection.user_id, key_id=connection.key_id, generation=connection.generation)
    except AppError as exc:
        outbox.error(exc.code, exc.message, stream="events")
        return
    events = UserEvents(get_redis(), connection.user_id, get_settings().events_stream_ttl_seconds)
    if last_id is None:
        newest = await events.last()
        last_id = newest.id if newest else START
    outbox.send({"type": "subscribed", "stream": "events", "last_id": last_id})
    last_id = await _relay(events, last_id, connection, outbox, context, "events",
                           lambda entry: {"type": entry.type, "id": entry.id, "data": entry.data})
    if last_id is not None:
        outbox.send({"type": "resubscribe", "stream": "events", "last_id": last_id})


async def _relay(stream: EntryStream, last_id: str, connection: Connection, outbox: Outbox, context: Any,
                 slot: connections.RelaySlot, frame: Callable[[Entry], dict[str, Any]],
                 recheck: Callable[[], Awaitable[None]] | None = None) -> str | None:
    """Send the stream's entries after `last_id` until a terminal one (None), a newer subscribe in the
    same slot takes over (None), or the function's deadline nears: then the last id sent. `recheck` runs
    after every RECHECK_SECONDS without an entry (it may end the stream: the next read then finds it)."""
    remaining_s = context.get_remaining_time_in_millis() / 1000
    deadline = time.monotonic() + remaining_s - RELAY_MARGIN_SECONDS
    redis = get_redis()
    token = await connections.take_relay(redis, connection.id, int(remaining_s) + 1, slot)
    quiet_since = time.monotonic()
    while (remaining := deadline - time.monotonic()) > 0:
        if recheck is not None and time.monotonic() - quiet_since >= RECHECK_SECONDS:
            await recheck()
            quiet_since = time.monotonic()
        wait = min(remaining, READ_BLOCK_MS / 1000, RECHECK_SECONDS)
        entries = await stream.read(last_id, block_ms=max(int(wait * 1000), 1))
        if not await connections.still_relaying(redis, connection.id, token, slot):
            return None  # a newer subscribe on this connection took over, or the client left
        if entries:
            quiet_since = time.monotonic()
        for entry in coalesce(entries):
            outbox.send(frame(entry))
            last_id = entry.id
            if entry.terminal:
                return None
    return last_id


async def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    rc = event.get("requestContext") or {}
    route, connection_id = rc.get("routeKey"), rc.get("connectionId")
    if not isinstance(route, str) or not isinstance(connection_id, str):
        log.warning("not a WebSocket event", extra={"keys": sorted(event)[:10]})
        return {"statusCode": 400}
    redis = get_redis()
    if route == "$connect":
        return await connect(event, connection_id)
    if route == "$disconnect":
        await connections.forget(redis, connection_id)
        return {"statusCode": 200}

    outbox = Outbox(event, connection_id)
    try:
        connection = await connections.lookup(redis, connection_id)
        if connection is None:
            outbox.error("not_authenticated", "This connection is not known; connect again")
            return {"statusCode": 200}
        try:
            message = json.loads(event.get("body") or "")
        except ValueError:
            message = None
        if not isinstance(message, dict):
            outbox.error("invalid_message", 'Send JSON like {"action": "subscribe", "question_id": "..."}')
        elif route == "subscribe":
            await subscribe(message, connection, outbox, context)
        elif route == "subscribe_events":
            await subscribe_events(message, connection, outbox, context)
        else:
            outbox.error("unknown_action", 'The actions are "subscribe" and "subscribe_events"',
                         action=str(message.get("action"))[:50])
    except Gone:
        log.info("client left during relay", extra={"connection_id": connection_id})
    return {"statusCode": 200}
