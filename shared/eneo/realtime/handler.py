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
`{"type": "error", "code", "message"}` for a refused message (`too_many_subscriptions` beyond the per-user cap;
`$connect` beyond the per-user cap of connections answers 429 `too_many_connections`).
A relay with nothing to send parks and its invocation ends; the stream's next write invokes this function
again with the parked ticket (eneo.core.parking), and a schedule sweeps what a failed invoke left.

While Redis or Postgres cannot be reached (eneo.core.health.unavailable), `$connect` is refused 503 and a message,
or a relay that loses one mid-way, is answered with an error frame `redis_unavailable`/`database_unavailable`
and `retry_after` (seconds): the client subscribes again with its last id then. Never a function error, which
the client would get only as API Gateway's bare "Internal server error".

Browsers cannot set headers on a WebSocket, so `$connect` also takes the access token or API key
from the query string (`?token=` / `?api_key=`); API Gateway does not log query strings unless told
to, and our logs never carry them.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio.client import Pipeline

from eneo.answers.recovery import FINAL, abandon_if_lost, end_stream
from eneo.answers.stream import AnswerStream
from eneo.auth.principal import Principal, from_access_token, from_api_key, recheck
from eneo.core import parking
from eneo.core.aio import deadline as function_deadline
from eneo.core.db import UnitOfWork
from eneo.core.errors import AppError
from eneo.core.health import RETRY_AFTER_SECONDS, DependencyUnavailable, unavailable
from eneo.core.redis import get_redis
from eneo.core.settings import get_settings
from eneo.core.streams import START, Entry, EntryStream, coalesce, entry_order, valid_entry_id
from eneo.core.user_events import UserEvents
from eneo.realtime import connections
from eneo.realtime.connections import Connection
from eneo.realtime.outbox import Gone, Outbox, management_endpoint
from eneo.sessions.models import Question

log = logging.getLogger("eneo.realtime")

RELAY_MARGIN_SECONDS = 3.0  # stop relaying this long before the function's timeout, and say so
READ_BLOCK_MS = 5000
# A relay that has read nothing for this long parks (eneo.core.parking) and its invocation ends. An answer's
# next token usually comes within this; status events come seldom, so their relay parks as soon as it caught up.
ANSWER_PARK_AFTER_SECONDS = 1.0
EVENTS_PARK_AFTER_SECONDS = 0.0
# Where relays cannot park (no WS_FUNCTION_NAME), a relay waiting on a quiet answer looks at the saved question
# this often: if it is final (its writer died before the terminal entry) or lost (its writer died mid-answer),
# the relay ends the stream itself, so a WebSocket-only client learns the outcome within the abandonment time.
# Parked answers get the same look from the ws function's scheduled sweep.
RECHECK_SECONDS = 10.0


@dataclass
class Relay:
    """One subscription being relayed: which stream, to which connection, in which slot."""

    stream: EntryStream
    connection: Connection
    outbox: Outbox
    slot: connections.RelaySlot
    token: str
    frame: Callable[[Entry], dict[str, Any]]
    question_id: uuid.UUID | None = None  # an answer's

    def check(self, pipe: Pipeline) -> None:
        """Queue the subscription's check, sent with each read (connections.queue_relay_state)."""
        connections.queue_relay_state(pipe, self.connection.id, self.slot, self.connection.session_id)

    @property
    def park_after(self) -> float:
        return ANSWER_PARK_AFTER_SECONDS if self.slot == "answer" else EVENTS_PARK_AFTER_SECONDS

    def ticket(self, last_id: str) -> parking.Ticket:
        return parking.Ticket(self.connection.id, self.slot, self.token, self.stream.key, last_id, self.outbox.endpoint,
                              str(self.question_id) if self.question_id else None, str(self.connection.tenant_id))

    def ended_early(self, last_id: str) -> dict[str, Any]:
        """The frame that tells the client to subscribe again from `last_id`."""
        where = {"question_id": str(self.question_id)} if self.question_id else {"stream": "events"}
        return {"type": "resubscribe", **where, "last_id": last_id}


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
    """Accept the connection only for a valid token or API key, and while its user is under the cap of open
    connections; the status code answers the handshake."""
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
    connection = Connection(connection_id, principal.tenant_id, principal.user_id, principal.assistant_id,
                            principal.key_id, principal.generation, principal.session_id)
    cap = settings.websocket_max_connections_per_user
    if not await connections.remember(get_redis(), connection, cap):
        log.info("websocket refused", extra={"connection_id": connection_id, "code": "too_many_connections"})
        return {"statusCode": 429, "body": json.dumps({
            "code": "too_many_connections",
            "message": f"At most {cap} open WebSocket connections per user; close one and connect again"})}
    log.info("websocket connected", extra={"connection_id": connection_id, "tenant_id": str(principal.tenant_id)})
    return {"statusCode": 200}


async def _owned_question(connection: Connection, question_id: uuid.UUID) -> Question | None:
    """The question if this connection's user asked it, while the credential it connected with holds
    (account active, API key not revoked, no password change since)."""
    async with UnitOfWork(connection.tenant_id) as uow:
        await recheck(uow, connection.user_id, key_id=connection.key_id, generation=connection.generation,
                          session_id=connection.session_id)
        question = await uow.session.get(Question, question_id)
    if question is None or question.user_id != connection.user_id or (
            connection.assistant_id is not None and question.assistant_id != connection.assistant_id):
        return None
    if not await abandon_if_lost(question):  # when it does, its stream ends with `answer_lost`
        await end_stream(question)  # final, but its writer may have died before the terminal entry
    return question


async def _recheck_question(tenant_id: uuid.UUID, question_id: uuid.UUID) -> None:
    """End the stream of a question that became final or was lost while a relay waited on it."""
    async with UnitOfWork(tenant_id) as uow:
        question = await uow.session.get(Question, question_id)
    if question is not None and not await abandon_if_lost(question):
        await end_stream(question)


async def _take_slot(connection: Connection, outbox: Outbox, slot: connections.RelaySlot,
                     **ids: str) -> str | None:
    """The slot's relay token, or None after telling the client it holds too many subscriptions."""
    cap = get_settings().websocket_max_subscriptions_per_user
    token = await connections.take_relay(get_redis(), connection, cap, slot)
    if token is None:
        await outbox.error("too_many_subscriptions", f"At most {cap} subscriptions per user across your "
                                                     "connections; end one (or close a connection) first", **ids)
    return token


async def subscribe(message: dict[str, Any], connection: Connection, outbox: Outbox, context: Any) -> None:
    """Relay `answer:{question_id}` from `last_id` to the connection until `done`/`error`."""
    try:
        question_id = uuid.UUID(str(message.get("question_id")))
    except ValueError:
        await outbox.error("invalid_message", "question_id must be the id of one of your questions")
        return
    last_id = message.get("last_id") or START
    if not isinstance(last_id, str) or not valid_entry_id(last_id):
        await outbox.error("invalid_message", "last_id must be an id this stream sent (like 1700000000000-0)",
                           question_id=str(question_id))
        return
    try:
        question = await _owned_question(connection, question_id)
    except AppError as exc:  # deactivated, suspended, key revoked or password changed since $connect
        await outbox.error(exc.code, exc.message, question_id=str(question_id))
        return
    if question is None:
        await outbox.error("question_not_found", "Question not found", question_id=str(question_id))
        return
    stream = AnswerStream(get_redis(), question_id, get_settings().answer_stream_ttl_seconds)
    if question.status in FINAL and not await stream.exists():
        await outbox.error("stream_expired", f"This answer's stream has expired; read it from "
                                             f"/api/v1/questions/{question_id}/", question_id=str(question_id))
        return
    if end := await stream.end_already_read(last_id):
        await outbox.send(end.as_message(question_id))  # the client has it all: say so again and stop
        return
    token = await _take_slot(connection, outbox, "answer", question_id=str(question_id))
    if token is not None:
        await _relay(_answer_relay(stream, connection, outbox, token), last_id, context)


def _answer_relay(stream: AnswerStream, connection: Connection, outbox: Outbox, token: str) -> Relay:
    question_id = uuid.UUID(str(stream.question_id))
    return Relay(stream, connection, outbox, "answer", token, lambda entry: entry.as_message(question_id),
                 question_id)


def _events_relay(connection: Connection, outbox: Outbox, token: str) -> Relay:
    events = UserEvents(get_redis(), connection.user_id, get_settings().events_stream_ttl_seconds)
    return Relay(events, connection, outbox, "events", token,
                 lambda entry: {"type": entry.type, "id": entry.id, "data": entry.data})


async def subscribe_events(message: dict[str, Any], connection: Connection, outbox: Outbox, context: Any) -> None:
    """Relay the user's status events (`events:{user_id}`) from `last_id`, or from now on, for as long as the
    connection lasts (parked between events)."""
    if connection.assistant_id is not None:  # status events span every space: not for a key held to one assistant
        await outbox.error("api_key_scope", "This API key is restricted to one assistant; status events need a "
                           "user-wide API key or an access token", stream="events")
        return
    last_id = message.get("last_id")
    if last_id is not None and (not isinstance(last_id, str) or not valid_entry_id(last_id)):
        await outbox.error("invalid_message", "last_id must be an id this stream sent (like 1700000000000-0)",
                           stream="events")
        return
    try:
        async with UnitOfWork(connection.tenant_id) as uow:
            await recheck(uow, connection.user_id, key_id=connection.key_id, generation=connection.generation,
                          session_id=connection.session_id)
    except AppError as exc:
        await outbox.error(exc.code, exc.message, stream="events")
        return
    token = await _take_slot(connection, outbox, "events", stream="events")
    if token is None:
        return
    relay = _events_relay(connection, outbox, token)
    if last_id is None:
        newest = await relay.stream.last()
        last_id = newest.id if newest else START
    await outbox.send({"type": "subscribed", "stream": "events", "last_id": last_id})
    await _relay(relay, last_id, context)


async def _relay(relay: Relay, last_id: str, context: Any) -> None:
    """Send the stream's entries after `last_id` until a terminal one, a newer subscribe in the same slot takes
    over, the stream stays quiet for `park_after` (the relay parks: a write wakes it), or the function's
    deadline nears (then a `resubscribe` frame with the last id sent)."""
    deadline = function_deadline(context) - RELAY_MARGIN_SECONDS
    redis = get_redis()
    can_park = parking.enabled()
    quiet_since = time.monotonic()
    while (remaining := deadline - time.monotonic()) > 0:
        quiet = time.monotonic() - quiet_since
        if can_park and quiet >= relay.park_after:
            if await parking.park(redis, relay.ticket(last_id)):
                return
            quiet_since, quiet = time.monotonic(), 0.0  # entries came meanwhile: read them
        elif relay.question_id is not None and quiet >= RECHECK_SECONDS:
            await _recheck_question(relay.connection.tenant_id, relay.question_id)
            quiet_since, quiet = time.monotonic(), 0.0
        wait = min(remaining, READ_BLOCK_MS / 1000, (relay.park_after if can_park else RECHECK_SECONDS) - quiet)
        entries, checked = await relay.stream.read_then(last_id, relay.check, block_ms=max(int(wait * 1000), 1))
        state = connections.relay_state_of(checked, relay.token)
        if state == "replaced":
            return  # a newer subscribe on this connection took over, or the client left
        if state == "session_ended":  # logged out: not one more frame of this session's
            where = {"question_id": str(relay.question_id)} if relay.question_id else {"stream": "events"}
            await relay.outbox.error("session_ended", "This session has ended; log in again", **where)
            await connections.release_relay(redis, relay.connection.id, relay.token, relay.slot)
            return
        if entries:
            quiet_since = time.monotonic()
        for entry in coalesce(entries):
            await relay.outbox.send(relay.frame(entry))
            last_id = entry.id
            if entry.terminal:
                await connections.release_relay(redis, relay.connection.id, relay.token, relay.slot)
                return
    await relay.outbox.send(relay.ended_early(last_id))


async def resume(ticket: parking.Ticket, context: Any) -> None:
    """A parked relay, woken by a write to its stream: relay on from where it stopped, if the subscription
    still holds (the connection is open, no newer subscribe took its slot, its credential is still good)."""
    redis = get_redis()
    connection = await connections.lookup(redis, ticket.connection_id)
    if connection is None or ticket.slot not in connections.SLOTS:
        return
    slot = cast(connections.RelaySlot, ticket.slot)
    if not await connections.still_relaying(redis, connection.id, ticket.token, slot):
        return
    outbox = Outbox(ticket.endpoint, connection.id)
    ids = {"question_id": ticket.question_id} if ticket.question_id else {"stream": "events"}
    try:
        async with UnitOfWork(connection.tenant_id) as uow:
            await recheck(uow, connection.user_id, key_id=connection.key_id, generation=connection.generation,
                          session_id=connection.session_id)
    except AppError as exc:
        await outbox.error(exc.code, exc.message, **ids)
        await connections.release_relay(redis, connection.id, ticket.token, slot)
        return
    if ticket.question_id:
        stream = AnswerStream(redis, uuid.UUID(ticket.question_id), get_settings().answer_stream_ttl_seconds)
        relay = _answer_relay(stream, connection, outbox, ticket.token)
    else:
        relay = _events_relay(connection, outbox, ticket.token)
    await _relay(relay, ticket.last_id, context)


async def sweep() -> dict[str, int]:
    """The ws function's schedule: wake parked relays whose stream moved on without waking them (a failed
    invoke), and look at the questions of parked answers, ending those that became final or were lost."""
    redis = get_redis()
    woken = rechecked = 0
    for key in await parking.parked_index(redis):
        tickets = await parking.tickets_of(redis, key)
        if not tickets:
            continue
        earliest = min((t.last_id for t in tickets), key=entry_order)
        if await EntryStream(redis, key, 0).read(earliest):
            woken += await parking.wake(redis, key)
            continue
        ticket = tickets[0]
        if ticket.question_id and ticket.tenant_id:
            try:
                await _recheck_question(uuid.UUID(ticket.tenant_id), uuid.UUID(ticket.question_id))
                rechecked += 1
            except Exception as exc:  # one question's trouble must not stop the sweep
                log.error("parked answer not rechecked", extra={"question_id": ticket.question_id,
                                                                "error": type(exc).__name__})
    if woken or rechecked:
        log.info("parked relays swept", extra={"woken": woken, "rechecked": rechecked})
    return {"woken": woken, "rechecked": rechecked}


def _parse(body: Any) -> Any:
    """The message's JSON, or None: not JSON, or nested too deeply to parse (RecursionError)."""
    try:
        return json.loads(body or "")
    except (ValueError, RecursionError):
        return None


async def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    try:
        return await _handle(event, context)
    except Exception as exc:
        if (down := unavailable(exc)) is None:
            raise
        return await _unavailable(event, down, exc)


async def _unavailable(event: dict[str, Any], down: DependencyUnavailable, exc: Exception) -> dict[str, Any]:
    """Tell the client a dependency is down, in the answer its event expects: a refused `$connect`, or an error
    frame to the connection of a message or a woken relay (with the subscription's ids, so it knows what to
    subscribe again to)."""
    ticket = event.get(parking.EVENT_KEY)
    rc = event.get("requestContext") or {}
    route = "resume" if isinstance(ticket, dict) else rc.get("routeKey") or event.get("detail-type")
    log.warning("dependency unavailable", extra={"route": route, "code": down.code, "error": type(exc).__name__,
                                                 "connection_id": rc.get("connectionId")})
    if route == "$connect":
        return {"statusCode": 503, "body": json.dumps({"code": down.code, "message": down.message})}
    if isinstance(ticket, dict):
        outbox = Outbox(str(ticket.get("endpoint")), str(ticket.get("connection_id")))
        ids = {"question_id": ticket["question_id"]} if ticket.get("question_id") else {"stream": "events"}
    elif route in ("subscribe", "subscribe_events"):
        outbox = Outbox(management_endpoint(event), str(rc.get("connectionId")))
        message = _parse(event.get("body"))
        ids = {"stream": "events"} if route == "subscribe_events" else (
            {"question_id": message["question_id"][:64]} if isinstance(message, dict)
            and isinstance(message.get("question_id"), str) else {})
    else:  # $disconnect (nobody to tell), the schedule (its next run sweeps), $default
        return {"statusCode": 200}
    try:
        await outbox.error(down.code, f"{down.message} (subscribe again with your last_id)",
                           retry_after=RETRY_AFTER_SECONDS, **ids)
    except Gone:
        log.info("client left during relay", extra={"connection_id": outbox.connection_id})
    return {"statusCode": 200}


async def _handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if isinstance(ticket := event.get(parking.EVENT_KEY), dict):
        try:
            await resume(parking.Ticket(**ticket), context)
        except Gone:
            log.info("client left during relay", extra={"connection_id": ticket.get("connection_id")})
        return {"statusCode": 200}
    if event.get("detail-type") == "Scheduled Event":
        return await sweep()
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

    outbox = Outbox(management_endpoint(event), connection_id)
    try:
        connection = await connections.lookup(redis, connection_id)
        if connection is None:
            await outbox.error("not_authenticated", "This connection is not known; connect again")
            return {"statusCode": 200}
        message = _parse(event.get("body"))
        if not isinstance(message, dict):
            await outbox.error("invalid_message", 'Send JSON like {"action": "subscribe", "question_id": "..."}')
        elif route == "subscribe":
            await subscribe(message, connection, outbox, context)
        elif route == "subscribe_events":
            await subscribe_events(message, connection, outbox, context)
        else:
            await outbox.error("unknown_action", 'The actions are "subscribe" and "subscribe_events"',
                               action=str(message.get("action"))[:50])
    except Gone:
        log.info("client left during relay", extra={"connection_id": connection_id})
    return {"statusCode": 200}
