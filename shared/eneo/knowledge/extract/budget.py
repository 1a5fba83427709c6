"""The running bounds of one extraction: a deadline and a character budget.

Extractors feed text part by part (page, paragraph, row) through a `Collector`; it checks the
deadline at every part, so a hostile file costs at most about one part past `timeout_seconds`, and it
stops taking text at `max_chars` (the result is then marked truncated rather than refused: the first
five million characters of a long document are still worth searching).
"""

from __future__ import annotations

import time

from eneo.core.text import clean
from eneo.knowledge.extract.types import Extracted, ExtractionError, ExtractLimits, Section


class Collector:
    def __init__(self, limits: ExtractLimits) -> None:
        self.limits = limits
        self._deadline = time.monotonic() + limits.timeout_seconds
        self._remaining = limits.max_chars
        self._sections: list[Section] = []
        self._parts: list[str] = []
        self._page: int | None = None
        self._title: str | None = None
        self._table = False
        self._header: str | None = None
        self._sep = "\n\n"
        self._open = False
        self.truncated = False

    @property
    def full(self) -> bool:
        return self._remaining <= 0

    def remaining_seconds(self) -> float:
        """Time left before the deadline (what a child process, such as OCR, may be given)."""
        return self._deadline - time.monotonic()

    def tick(self) -> None:
        """Raise `extract_timeout` once the deadline has passed."""
        if time.monotonic() > self._deadline:
            raise ExtractionError("extract_timeout",
                                  f"extraction took longer than {self.limits.timeout_seconds:g} s and was stopped")

    def begin(self, page: int | None = None, title: str | None = None, sep: str = "\n\n") -> None:
        """Start a new section; parts added after this are joined with `sep`."""
        self._flush()
        self._page, self._title, self._sep, self._open = page, title, sep, True
        self._table, self._header = False, None

    def begin_table(self, header: str | None, title: str | None = None) -> bool:
        """Start a table's section: its rows are added one a line after `header` (the column names, a
        sheet's name; None when it has none), which every chunk of it repeats. False once the budget is spent."""
        self.begin(title=title, sep="\n")
        self._table = True
        if header is None:
            return True
        header = clean(header).strip()
        if not self.add(header):
            return False
        self._header = header
        return True

    def add(self, text: str, strip: bool = True) -> bool:
        """Add one part of the current section; False once the character budget is spent (stop feeding)."""
        self.tick()
        if self.full:
            self.truncated = True
            return False
        text = clean(text)
        if strip:
            text = text.strip()
        if not text:
            return True
        if not self._open:
            self.begin()
        cost = len(text) + (len(self._sep) if self._parts else 0)
        if cost > self._remaining:
            text = text[: max(self._remaining - (cost - len(text)), 0)]
            self.truncated = True
            self._remaining = 0
            if text:
                self._parts.append(text)
            return False
        self._parts.append(text)
        self._remaining -= cost
        return True

    def sections(self) -> list[Section]:
        self._flush()
        return self._sections

    def has_text(self) -> bool:
        return any(s.text.strip() for s in self.sections())

    def result(self, pages: int = 1) -> Extracted:
        """The sections so far; a document without any text is `empty`."""
        if not self.has_text():
            raise ExtractionError("empty", "the document contains no text")
        return Extracted(self.sections(), pages, self.truncated)

    def _flush(self) -> None:
        if self._parts:
            self._sections.append(Section(self._sep.join(self._parts), self._page, self._title, self._table,
                                          self._header))
        self._parts = []
        self._open = False
