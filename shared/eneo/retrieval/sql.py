"""Literals for the filters of search statements.

Tenant, collection and model ids are written into the SQL as literals (from uuid.UUID values: nothing to
inject), not bound as parameters. The partial HNSW index needs the model id as a literal anyway, and with
parameters psycopg prepares a statement after five runs, after which Postgres may switch to a generic
plan that cannot see how few rows `group_id = ANY($1)` selects: measured, the candidate count went from
0.4 ms to 31 ms (a scan of the whole tenant) on the sixth search of a warm connection.
"""

import uuid
from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_facts: dict[tuple[str, str], object] = {}


def uuid_literal(value: uuid.UUID | str) -> str:
    return f"'{uuid.UUID(str(value))}'::uuid"


def uuid_array(values: Iterable[uuid.UUID | str]) -> str:
    items = ",".join(f"'{uuid.UUID(str(v))}'" for v in values)
    return f"ARRAY[{items}]::uuid[]" if items else "ARRAY[]::uuid[]"


async def server_fact(session: AsyncSession, sql: str) -> object:
    """A constant SELECT's value, asked once per database and process (extension versions, functions)."""
    bind = session.get_bind()
    key = (str(getattr(bind, "url", "")), sql)
    if key not in _facts:
        _facts[key] = (await session.execute(text(sql))).scalar()
    return _facts[key]


async def server_has(session: AsyncSession, condition: str) -> bool:
    return bool(await server_fact(session, f"SELECT {condition}"))
