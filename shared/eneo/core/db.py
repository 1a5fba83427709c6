"""Postgres access for functions: one small pool per warm instance (DB_POOL), one tenant per transaction.

Every transaction opened through a `UnitOfWork` first sets `app.tenant_id` (transaction-local),
which the Row-Level Security policies in infra/migrations compare against: a query that forgets
its `tenant_id` filter still sees nothing of another tenant.

When a transaction commits, one rule: **before anything outside it is told or done.**
- A request's unit of work (eneo.auth.deps, a dependency of `scope="function"`) commits when the route
  returns and before the response is sent. A commit that fails is the client's 500 (in the error shape of
  eneo.core.http), never a 2xx for a change that was not saved. So a use case does not commit to finish:
  it flushes where it needs what the database fills in (ids, timestamps) or where a constraint violation
  must become a 409 (eneo.model_providers.rules.flush_or), and leaves the commit to the unit of work.
- A use case commits mid-way only before a side effect that must not happen for a change that may still
  be rolled back, or must not hold a connection, and says which at the call: before an async invoke or
  a queue message that reads the row, before deleting files or Redis keys of deleted rows, before a
  provider call, before `act_as` binds the next transaction to another tenant.
- Work outside a request (event handlers, the local stack) opens `async with UnitOfWork(...)`: it commits
  on leaving the block, before the caller goes on, and rolls back on an exception.
"""

import uuid
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from sqlalchemy import Connection, DateTime, MetaData, event, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.pool import NullPool

from eneo.core.ids import new_id, utcnow
from eneo.core.settings import Settings, get_settings

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: DateTime(timezone=True)}


class Entity:
    """UUID key and timestamps, shared by every table."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


_engine: AsyncEngine | None = None
_sessions: async_sessionmaker[AsyncSession] | None = None


def get_engine(settings: Settings | None = None) -> AsyncEngine:
    """The process-wide engine, created on first use so that cold starts stay cheap."""
    global _engine, _sessions
    if _engine is None:
        settings = settings or get_settings()
        # A queue pool keeps connections open between requests (cheap transactions); a null pool
        # connects per transaction, so nothing is held while a long function waits (no ping needed:
        # every connection is new).
        pool: dict[str, Any] = (
            {"poolclass": NullPool} if settings.db_pool == "null" else
            {"pool_size": settings.db_pool_size, "max_overflow": settings.db_max_overflow,
             "pool_pre_ping": True, "pool_recycle": 300})
        _engine = create_async_engine(
            settings.database_url,
            connect_args={"options": f"-c statement_timeout={settings.db_statement_timeout_ms}"},
            hide_parameters=True,  # errors would quote the values: questions, answers, e-mail addresses
            **pool,
        )
        _sessions = async_sessionmaker(_engine, expire_on_commit=False)
    return _engine


def get_sessionmaker() -> async_sessionmaker[AsyncSession]:
    get_engine()
    assert _sessions is not None
    return _sessions


async def dispose_engine() -> None:
    """Close every pooled connection (tests, and the end of a local worker)."""
    global _engine, _sessions
    if _engine is not None:
        await _engine.dispose()
    _engine, _sessions = None, None


class UnitOfWork:
    """One database session whose transactions are bound to one tenant.

    `tenant_id=None` with `sysadmin=True` is the sysadmin's view, which only the tenants table
    admits; with neither, RLS hides every tenant-owned row (used for cross-tenant look-ups that go
    through SECURITY DEFINER functions, such as login).
    """

    def __init__(self, tenant_id: uuid.UUID | None = None, *, sysadmin: bool = False,
                 sessions: async_sessionmaker[AsyncSession] | None = None) -> None:
        self.tenant_id = tenant_id
        self.sysadmin = sysadmin
        self._sessions = sessions
        self.session: AsyncSession

    async def __aenter__(self) -> Self:
        self.session = (self._sessions or get_sessionmaker())()
        # Runs at the start of every transaction of this session, so a commit mid-way cannot
        # leave later statements without their tenant.
        event.listen(self.session.sync_session, "after_begin", self._bind_tenant)
        return self

    def _bind_tenant(self, _session: object, _transaction: object, connection: Connection) -> None:
        connection.execute(
            text("SELECT set_config('app.tenant_id', :t, true), set_config('app.sysadmin', :s, true)"),
            {"t": str(self.tenant_id) if self.tenant_id else "", "s": "on" if self.sysadmin else "off"},
        )

    async def locate(self, lookup: str, *arguments: str | None) -> uuid.UUID | None:
        """Find a row whose tenant is not known yet, and bind the next transaction to that tenant.

        `lookup` is one of the SECURITY DEFINER functions of the migrations (login by e-mail and tenant,
        API key by prefix, invitation by token hash, login session by id), which return `(id, tenant_id)`
        and nothing else.
        """
        found = (await self.session.execute(
            select(getattr(func, lookup)(*arguments).table_valued("id", "tenant_id"))
        )).first()
        await self.commit()
        if found is None:
            return None
        self.act_as(found.tenant_id)
        return found.id

    def act_as(self, tenant_id: uuid.UUID) -> None:
        """Bind the next transaction to another tenant (the sysadmin creating a tenant's users)."""
        if self.session.in_transaction():
            raise RuntimeError("commit before switching tenant")
        self.tenant_id = tenant_id

    async def commit(self) -> None:
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        try:
            if exc_type is None:
                await self.session.commit()
            else:
                await self.session.rollback()
        finally:
            await self.session.close()
