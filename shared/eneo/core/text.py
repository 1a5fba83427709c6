"""Text that Postgres can store: no NUL characters, no lone surrogates.

JSON can carry both (`"\\u0000"`, `"\\ud800"`), Python strings hold them, and Postgres refuses them
(`text` has no NUL; UTF-8 has no surrogates). Checked at the edge, they become a 422 that names the
field instead of a 500 from the database.
"""

from typing import Annotated

from pydantic import AfterValidator, StringConstraints


def storable(value: str) -> bool:
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(value: str) -> str:
    """A client's free text kept as we store it (a file name, a media type): control characters and lone
    surrogates dropped, so Postgres takes it and a log line or a header cannot be split by it."""
    return "".join(ch for ch in value if ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF)


def _check(value: str) -> str:
    if not storable(value):
        raise ValueError("must be text without NUL characters or unpaired surrogates")
    return value


Text = Annotated[str, AfterValidator(_check)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_check)]
# Search text goes into SQL as a parameter (full-text query terms): the same rule.
Query = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000), AfterValidator(_check)]
