"""A failed statement's error never brings the values it was given (questions, answers, e-mails) into a log."""

import logging
import sys

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from eneo.core.db import UnitOfWork
from eneo.core.logging import JsonFormatter

SECRET = "personnummer 19121212-1212 in a question"


async def test_database_errors_are_logged_without_the_values(db: object) -> None:
    with pytest.raises(DBAPIError) as failed:
        async with UnitOfWork() as uow:
            # Postgres itself quotes the value it cannot read: 'invalid input syntax for type integer: "…"'.
            await uow.session.execute(text("SELECT CAST(:value AS integer)"), {"value": SECRET})
    assert SECRET in str(failed.value), "the check below would be vacuous"
    record = logging.LogRecord("eneo.http", logging.ERROR, __file__, 1, "unhandled error", None,
                               (type(failed.value), failed.value, failed.value.__traceback__))
    line = JsonFormatter("test").format(record)
    assert SECRET not in line
    assert "SQLSTATE 22P02" in line and "test_db_errors.py" in line, "still says what and where"


def test_other_errors_keep_their_message() -> None:
    try:
        raise ValueError("a plain bug")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "m", None, sys.exc_info())
    assert "ValueError: a plain bug" in JsonFormatter("test").format(record)
