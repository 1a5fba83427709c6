"""Dependency checks for the health routes."""

from sqlalchemy import text

from eneo.core.db import get_engine
from eneo.core.redis import get_redis


async def database_check() -> None:
    async with get_engine().connect() as conn:
        await conn.execute(text("SELECT 1"))


async def redis_check() -> None:
    await get_redis().ping()
