"""Personal data kept from external model providers: find it, mask it, restore it in the answer.

Pure (no I/O), so it can be tested on its own and costs only CPU (bench/personal_data.py measures it).
What counts, and why each rule is as strict as it is (a false positive hides a harmless number from the
model, a false negative sends a person's data to a third party):

* **Personal identity numbers** (personnummer) and **co-ordination numbers** (samordningsnummer, day + 60):
  `YYMMDD-NNNC`, `YYMMDD+NNNC` (`+` for someone 100 or older), `YYMMDDNNNC`, `YYYYMMDD-NNNC`, `YYYYMMDDNNNC`.
  The date must exist (29 February only in a leap year of a possible century) and the last digit must be
  the Luhn checksum of the other nine. So an organisation number (month 20 or more), an order number, an
  ISBN or a bank account number that happens to have 10 digits is left alone unless it passes both checks
  (about 1 in 30 random 10-digit strings has a valid date, 1 in 10 of those its checksum).
* **E-mail addresses**: `local@domain.tld`, letters of any script.
* **Phone numbers** in Swedish formats: `+46`/`0046` followed by a national number of 7 to 9 digits (an
  optional `(0)`), or a national number starting with `0` and a non-zero digit (an area code of 2 to 4 digits:
  `08`, `031`, `0980`, `070`), 8 to 10 digits in all, grouped by single spaces, with one `-` or `/` allowed
  right after the area code (`070-123 45 67`, `08-123 456 78`, `031 12 34 56`, `0701234567`). Postcodes,
  amounts and years do not start with `0`; a number that starts with `00` is not a domestic one.

Masking replaces each value with a placeholder (`[PERSONNUMMER_1]`, `[EMAIL_1]`, `[TELEFON_1]`); the same
value (whatever its format) gets the same placeholder throughout one request, so the model can tell two
people apart and refer back to one. Placeholders are no longer than what they replace, except for e-mail
addresses shorter than 10 characters, so a masked request fits where the unmasked one did.
`Unmasker` restores them in an answer that arrives token by token: a placeholder split across tokens
(`[EMA` + `IL_1]`) is held back until it is whole, and nothing else is delayed.
"""

from __future__ import annotations

import calendar
import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from eneo.llm import ChatMessage, ChatRequest

Kind = Literal["personnummer", "email", "phone"]

LABELS: dict[Kind, str] = {"personnummer": "PERSONNUMMER", "email": "EMAIL", "phone": "TELEFON"}
PLACEHOLDER = re.compile(r"\[(?:PERSONNUMMER|EMAIL|TELEFON)_\d+\]")
NOTE = ("Personal data in this conversation has been replaced by placeholders such as [EMAIL_1], "
        "[TELEFON_1] and [PERSONNUMMER_1]. When you refer to one, write the placeholder exactly as it is; "
        "never guess or invent what it stands for.")

_PNR = re.compile(
    r"(?<![\w+\-/.,])"
    r"(?:(?P<century>18|19|20)(?P<yy4>\d{2})(?P<mm4>\d{2})(?P<dd4>\d{2})-?(?P<tail4>\d{4})"
    r"|(?P<yy>\d{2})(?P<mm>\d{2})(?P<dd>\d{2})(?P<sep>[-+]?)(?P<tail>\d{4}))"
    r"(?![\w\-+/]|[.,]\d)")
_EMAIL = re.compile(r"(?<![\w.%+\-])[\w.%+\-]+@(?:[^\W_](?:[\w\-]*[^\W_])?\.)+[^\W\d_]{2,}(?![\w\-])")
# International first: then the national form (the trunk 0, an area code, the subscriber's digits).
_PHONE = re.compile(
    r"(?<![\w+\-/])"
    r"(?:(?:\+|00)46[ \-]?(?:\(0\)[ \-]?)?[1-9](?:[ \-]?\d){6,8}"
    r"|0[1-9]\d{0,2}(?:[ ]?[\-/][ ]?|[ ])?\d(?:[ ]?\d){4,7})"
    r"(?![\w\-/]|[.,]\d)")


def luhn_ok(digits: str) -> bool:
    """The Luhn check over all of `digits` (the last one being the check digit)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _date_ok(years: Iterable[int], month: int, day: int) -> bool:
    if day > 60:  # a co-ordination number: the day of birth plus 60
        day -= 60
    if not 1 <= month <= 12 or day < 1:
        return False
    return any(day <= calendar.monthrange(year, month)[1] for year in years)


def personnummer_key(match: re.Match[str]) -> str | None:
    """The number's 10 digits if it is a valid personnummer or samordningsnummer, else None."""
    if match["century"]:
        yy, mm, dd, tail = match["yy4"], match["mm4"], match["dd4"], match["tail4"]
        years: list[int] = [int(match["century"] + yy)]
    else:
        yy, mm, dd, tail = match["yy"], match["mm"], match["dd"], match["tail"]
        years = [c * 100 + int(yy) for c in (18, 19, 20)]
    ten = yy + mm + dd + tail
    if not _date_ok(years, int(mm), int(dd)) or not luhn_ok(ten):
        return None
    return ten


def _phone_key(text: str) -> str | None:
    """The number as +46 and its national digits if it has a plausible length, else None."""
    digits = re.sub(r"\D", "", text.replace("(0)", ""))
    if text.startswith("+46"):
        national = digits[2:]
    elif text.startswith("0046"):
        national = digits[4:]
    else:
        national = digits[1:]
    return "+46" + national if 7 <= len(national) <= 9 else None


@dataclass(frozen=True)
class Found:
    kind: Kind
    start: int
    end: int
    key: str  # the value in one canonical form: two spellings of one number are one value


def find(text: str) -> list[Found]:
    """The personal data in `text`, in order, without overlaps (a personnummer wins over a phone number)."""
    found: list[Found] = []
    for m in _PNR.finditer(text):
        if (key := personnummer_key(m)) is not None:
            found.append(Found("personnummer", m.start(), m.end(), key))
    for m in _EMAIL.finditer(text):
        found.append(Found("email", m.start(), m.end(), m.group().lower()))
    for m in _PHONE.finditer(text):
        if (key := _phone_key(m.group())) is not None:
            found.append(Found("phone", m.start(), m.end(), key))
    found.sort(key=lambda f: (f.start, -f.end))
    kept: list[Found] = []
    for f in found:
        if not kept or f.start >= kept[-1].end:
            kept.append(f)
    return kept


def contains(texts: Iterable[str]) -> bool:
    """Whether any of `texts` holds personal data."""
    return any(find(t) for t in texts)


@dataclass
class Masking:
    """One request's placeholders: mask every text of the request with the same instance."""

    originals: dict[str, str] = field(default_factory=dict)  # placeholder -> the value as first written
    _by_key: dict[tuple[Kind, str], str] = field(default_factory=dict)
    _counts: dict[Kind, int] = field(default_factory=dict)

    def _placeholder(self, f: Found, original: str) -> str:
        if (known := self._by_key.get((f.kind, f.key))) is not None:
            return known
        n = self._counts[f.kind] = self._counts.get(f.kind, 0) + 1
        placeholder = f"[{LABELS[f.kind]}_{n}]"
        self._by_key[(f.kind, f.key)] = placeholder
        self.originals[placeholder] = original
        return placeholder

    def mask(self, text: str) -> str:
        parts: list[str] = []
        at = 0
        for f in find(text):
            parts += [text[at:f.start], self._placeholder(f, text[f.start:f.end])]
            at = f.end
        parts.append(text[at:])
        return "".join(parts)

    def __bool__(self) -> bool:
        return bool(self.originals)

    def counts(self) -> dict[str, int]:
        """How many distinct values of each kind were masked (for logs: never the values)."""
        return {str(kind): n for kind, n in self._counts.items()}

    def restore(self, text: str) -> str:
        """`text` with every whole placeholder of this request replaced by its value."""
        if not self.originals:
            return text
        return PLACEHOLDER.sub(lambda m: self.originals.get(m.group(), m.group()), text)

    def unmasker(self) -> Unmasker:
        return Unmasker(self)


def mask_texts(texts: Iterable[str]) -> tuple[list[str], dict[str, int]]:
    """Each text masked on its own (its placeholders numbered from 1), and how many values of each kind were
    masked in all. On its own so a text's masked form does not depend on what it was sent with: an
    embedding provider then gives a chunk the same vector whatever batch it came in."""
    masked: list[str] = []
    counts: dict[str, int] = {}
    for text in texts:
        masking = Masking()
        masked.append(masking.mask(text))
        for kind, n in masking.counts().items():
            counts[kind] = counts.get(kind, 0) + n
    return masked, counts


def mask_request(request: ChatRequest, masking: Masking) -> ChatRequest:
    """The request with its system message (the prompt and the retrieved passages) and every message (the
    history and the question) masked; the note on placeholders is added to the system message when
    anything was masked, so a request without personal data goes out exactly as it was."""
    # The conversation first: the asker's own data keeps its numbers whatever passages come with a question.
    messages = [ChatMessage(m.role, masking.mask(m.content)) for m in request.messages]
    system = masking.mask(request.system)
    if masking:
        system = f"{system}\n\n{NOTE}" if system else NOTE
    return dataclasses.replace(request, system=system, messages=messages)


class Unmasker:
    """Restores placeholders in an answer that arrives in pieces; feed each piece, then `end()`.

    Text is passed on at once unless it ends with what may be the start of a placeholder of this request
    (`[`, `[TELE`, `[EMAIL_1`): that tail waits for the next piece. A tail that turns out to be something
    else (`[1]`, a link) is passed on unchanged as soon as that is clear.
    """

    def __init__(self, masking: Masking) -> None:
        self._masking = masking
        self._prefixes = {p[:i] for p in masking.originals for i in range(1, len(p))}
        self._held = ""

    def feed(self, text: str) -> str:
        if not self._prefixes:
            return text
        text = self._held + text
        self._held = ""
        cut = text.rfind("[")
        if cut != -1 and text[cut:] in self._prefixes:
            text, self._held = text[:cut], text[cut:]
        return self._masking.restore(text)

    def end(self) -> str:
        """What is still held back (an answer that ends with a partial placeholder keeps it as written)."""
        held, self._held = self._held, ""
        return held
