"""Password policy (ASVS V2.1): what a new password must be, checked wherever one is set.

Length is what makes a password strong, so the rules are few: 12 to 256 characters of any printable
Unicode (spaces and emoji included, no composition rules), and not one an attacker tries first: the
19,640 commonest passwords (common-passwords.txt.gz, its source and licence beside it), one character
repeated, or a password built on the user's own e-mail name (that part counts for nothing: what
remains without it must still be 12 characters). Each refusal has its own code, a 422 that names the field.
"""

import gzip
import re
import unicodedata
from functools import cache
from importlib.resources import files

from eneo.core.errors import ValidationFailed

MIN_LENGTH = 12
MAX_LENGTH = 256
_NAME_PARTS = re.compile(r"[^\W_]+")  # the e-mail name's words: "anna.svensson+x" -> anna, svensson, x


@cache
def common_passwords() -> frozenset[str]:
    """Loaded on first use (~20 ms), not at import: most requests never set a password."""
    data = files("eneo.auth").joinpath("common-passwords.txt.gz").read_bytes()
    return frozenset(line.strip() for line in gzip.decompress(data).decode().splitlines() if line.strip())


def _refuse(field: str, code: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"Invalid request: {field}: {message}", code=code,
                            details=[{"field": field, "message": message, "type": code}])


def _without_email_name(password: str, email: str | None) -> str:
    """The password with the e-mail's name and its words of 3+ characters taken out (case-insensitive)."""
    rest = password.casefold()
    if not email:
        return rest
    name = email.rpartition("@")[0].casefold() or email.casefold()
    for part in sorted({name, *_NAME_PARTS.findall(name)}, key=len, reverse=True):
        if len(part) >= 3:
            rest = rest.replace(part, "")
    return rest


def check_password(password: str, *, email: str | None, field: str = "password") -> None:
    """Raise a 422 (ValidationFailed) with one code per reason if `password` may not be set."""
    if len(password) < MIN_LENGTH:
        raise _refuse(field, "password_too_short", f"use at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise _refuse(field, "password_too_long", f"use at most {MAX_LENGTH} characters")
    if any(unicodedata.category(c) == "Cc" for c in password):
        raise _refuse(field, "password_not_printable", "use printable characters only (no control characters)")
    if len(set(password)) == 1:
        raise _refuse(field, "password_repeated_character", "a single character repeated is not a password")
    if {password.lower(), "".join(password.lower().split())} & common_passwords():
        raise _refuse(field, "password_too_common", "this is one of the most common passwords; choose another")
    rest = _without_email_name(password, email)
    if rest != password.casefold() and len(rest) < MIN_LENGTH:
        raise _refuse(field, "password_contains_email",
                      f"do not build the password on your e-mail name: without it, {MIN_LENGTH} characters must remain")
