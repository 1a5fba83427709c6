"""Time-based one-time passwords (RFC 6238) and recovery codes: the second factor's arithmetic, no I/O.

pyotp computes the codes. What it does not decide is decided here:
* A code is accepted for the current 30-second step and one step either side (a phone's clock a little
  off, a code typed as it changes), and only for a step later than the last one accepted for the user:
  a code seen over someone's shoulder, or sent twice, does not sign in again (`matching_step`; the caller
  stores the step atomically, so two parallel uses of one code cannot both pass).
* Recovery codes are 12 characters of an alphabet without look-alikes (about 59 bits each), shown once
  in groups of four and kept as keyed hashes (eneo.core.security.token_hash); typing them in upper case,
  with or without the hyphens, is the same code.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time

import pyotp

STEP = 30  # seconds: what every authenticator app uses
WINDOW = 1  # steps either side of now that are still accepted
ISSUER = "Eneo"
RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
_CODE = re.compile(r"\d{6}")


def new_secret() -> str:
    """160 random bits in base32, as authenticator apps expect."""
    return pyotp.random_base32()


def provisioning_uri(secret: str, account: str) -> str:
    """The otpauth:// URI an authenticator app reads (as a QR code, or pasted)."""
    return pyotp.TOTP(secret, interval=STEP).provisioning_uri(name=account, issuer_name=ISSUER)


def is_code(value: str) -> bool:
    """Whether `value` looks like an authenticator code (6 digits) rather than a recovery code."""
    return bool(_CODE.fullmatch(value.strip().replace(" ", "")))


def matching_step(secret: str, code: str, *, after: int | None, now: float | None = None) -> int | None:
    """The time step `code` belongs to, if it is valid now (within WINDOW) and later than `after`."""
    code = code.strip().replace(" ", "")
    if not _CODE.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret, interval=STEP)
    current = int((time.time() if now is None else now) // STEP)
    for step in range(current - WINDOW, current + WINDOW + 1):
        if (after is None or step > after) and hmac.compare_digest(totp.at(step * STEP), code):
            return step
    return None


def new_recovery_codes(n: int = RECOVERY_CODES) -> list[str]:
    """`n` fresh codes, as shown to the user (`abcd-efgh-jkmn`)."""
    codes = []
    for _ in range(n):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(12))
        codes.append(f"{raw[:4]}-{raw[4:8]}-{raw[8:]}")
    return codes


def normalise_recovery_code(value: str) -> str:
    """The code as it is hashed: lower case, without spaces and hyphens."""
    return re.sub(r"[\s\-]", "", value).lower()
