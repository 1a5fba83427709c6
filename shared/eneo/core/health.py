"""Dependency checks for the health routes, and telling a dependency that is down from a bug.

A request that fails because Postgres or Redis cannot be reached answers 503 with `database_unavailable`
or `redis_unavailable` and a Retry-After (eneo.core.http), not 500 `internal_error`: the client did nothing
wrong, nothing was accepted, and the same request succeeds once the dependency is back.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
from redis import exceptions as redis_errors
from sqlalchemy import exc as sa_errors
from sqlalchemy import text

from eneo.core.db import get_engine
from eneo.core.errors import AppError
from eneo.core.redis import get_redis

# The local stack restarts a dead Redis or Postgres within about this; managed failovers take longer.
RETRY_AFTER_SECONDS = 5
# Server-side codes that mean "cannot serve now", not "this request is wrong": admin/crash shutdown,
# starting up, too many connections. Connection failures have no code (client side) or class 08.
_UNAVAILABLE_STATES = {"57P01", "57P02", "57P03", "53300"}


class DependencyUnavailable(AppError):
    status, code = 503, "service_unavailable"

    def __init__(self, message: str, **kw: object) -> None:
        kw.setdefault("headers", {"Retry-After": str(RETRY_AFTER_SECONDS)})
        super().__init__(message, **kw)  # type: ignore[arg-type]


async def database_check() -> None:
    async with get_engine().connect() as conn:
        await conn.execute(text("SELECT 1"))


async def redis_check() -> None:
    await get_redis().ping()


def unavailable(exc: BaseException) -> DependencyUnavailable | None:
    """The 503 to answer if `exc` (or what caused it) is Postgres or Redis being unreachable; None for anything
    else (a bug, a failed statement), which stays a 500."""
    for error in _causes(exc):
        # ConnectionError includes BusyLoadingError: a restarted Redis still loading its data.
        if isinstance(error, redis_errors.ConnectionError | redis_errors.TimeoutError):
            return DependencyUnavailable("Redis is unavailable right now; try again shortly",
                                         code="redis_unavailable")
        if _database_down(error):
            return DependencyUnavailable("The database is unavailable right now; try again shortly",
                                         code="database_unavailable")
    return None


def _database_down(error: BaseException) -> bool:
    if isinstance(error, sa_errors.DBAPIError) and error.connection_invalidated:
        return True
    orig = error.orig if isinstance(error, sa_errors.DBAPIError) else error
    if not isinstance(orig, psycopg.OperationalError):  # QueryCanceled (a statement timeout) is one: checked below
        return False
    state = orig.sqlstate
    return state is None or state.startswith("08") or state in _UNAVAILABLE_STATES


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, what it was raised from or during, and the members of exception groups (once each)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        error = todo.pop()
        if id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        if isinstance(error, BaseExceptionGroup):
            todo.extend(error.exceptions)
        todo.extend(e for e in (error.__cause__, error.__context__) if e is not None)
