"""Text: the one place that cleans it, and sizes written for people.

Postgres stores no NUL characters and no lone surrogates (`text` has no NUL; UTF-8 has no surrogates),
while JSON can carry both (`"\\u0000"`, `"\\ud800"`) and Python strings hold them. A client's field is
checked at the edge (`storable`, the `Text`/`Name`/`Query` types): a 422 that names the field instead
of a 500 from the database. Text we did not write ourselves is cleaned instead: a client's file name or
media type (`printable`), a provider's answer (`storable_text`), a document's extracted text (`clean`).
"""

import re
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


def storable_text(text: str) -> str:
    """Text from elsewhere as Postgres can store it: NUL dropped, lone surrogates replaced (not dropped silently)."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


# Postgres text holds no NUL; other C0 controls only confuse the tokenizer (it drops them anyway).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(text: str) -> str:
    """A document's text as we store and chunk it: no control characters (tab and newlines kept), no lone
    surrogates."""
    return storable_text(_CONTROL.sub("", text))


def human_size(size: int) -> str:
    """A number of bytes for people, in the binary units the limits are set in: `50 MiB`, `1.5 KiB`, `12 bytes`."""
    for unit, factor in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if size >= factor:
            return f"{round(size / factor, 1):g} {unit}"
    return f"{size} bytes"


def must_be_storable(value: str) -> str:
    """A validator (AfterValidator) for a client's field: 422 instead of a 500 from the database."""
    if not storable(value):
        raise ValueError("must be text without NUL characters or unpaired surrogates")
    return value


Text = Annotated[str, AfterValidator(must_be_storable)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                 AfterValidator(must_be_storable)]
# Search text goes into SQL as a parameter (full-text query terms): the same rule.
Query = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000),
                  AfterValidator(must_be_storable)]
