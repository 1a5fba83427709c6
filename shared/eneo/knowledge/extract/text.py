"""Text-based kinds: decoding (UTF-8, UTF-16 with BOM, cp1252/Latin-1 for older Swedish files),
plain text and Markdown as they are (a Markdown `# Title` is the document's title), CSV rows as readable
lines, HTML as its visible text."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import replace
from html.parser import HTMLParser

from eneo.knowledge.extract.budget import Collector
from eneo.knowledge.extract.types import Extracted, ExtractLimits, own_title

_SNIFF_BYTES = 64 * 1024
# Bytes that plain text does not contain (tab, LF, FF, CR and ESC aside).
_BINARY_BYTES = frozenset(range(0x20)) - {0x09, 0x0A, 0x0C, 0x0D, 0x1B}
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def looks_like_text(data: bytes) -> bool:
    """Judge from the first 64 KB: a BOM, or almost no control bytes. A few stray NULs occur in real web pages
    (one of 999 in trafilatura's evaluation set); UTF-16 without a BOM and binary files have far more."""
    if any(data.startswith(bom) for bom, _ in _BOMS):
        return True
    sample = data[:_SNIFF_BYTES]
    if sample.count(b"\x00") > len(sample) // 1000:
        return False
    controls = sum(1 for b in sample if b in _BINARY_BYTES)
    if controls > max(1, len(sample) // 200):
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=len(sample) == len(data))
        return True
    except UnicodeDecodeError:
        # Not UTF-8: a single-byte encoding is possible if the bytes are mostly printable.
        high = sum(1 for b in sample if b >= 0x80)
        return high <= len(sample) // 3


def decode(data: bytes) -> str:
    """Bytes to text: BOM first, then UTF-8, then Windows-1252 (Swedish text from older tools), then Latin-1."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    with contextlib.suppress(UnicodeDecodeError):
        return data.decode("utf-8")
    # UTF-8 with a few damaged bytes stays UTF-8: its valid multi-byte characters outnumber the damage.
    # (Windows-1252 Swedish text has almost none: "ö" is one byte followed by ASCII.)
    replaced = data.decode("utf-8", errors="replace")
    damaged = replaced.count("\ufffd")
    non_ascii = len(replaced) - len(replaced.encode("ascii", errors="ignore"))
    if non_ascii - damaged > damaged:
        return replaced
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def extract_plain(data: bytes, limits: ExtractLimits) -> Extracted:
    collector = Collector(limits)
    collector.begin(sep="")
    text = decode(data)
    # Add in slices so the deadline and the budget apply to huge files too.
    step = 1 << 20
    for start in range(0, len(text), step):
        if not collector.add(text[start:start + step], strip=False):
            break
    return collector.result()


_ATX_H1 = re.compile(r"^ {0,3}#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
_TITLE_LINES = 40  # a Markdown title is its first level-1 heading near the top, not one deep in the text


def markdown_title(text: str) -> str | None:
    """The first `# Title` (an ATX level-1 heading) in the first lines, outside a code fence."""
    fenced = False
    for line in text[:16_384].splitlines()[:_TITLE_LINES]:
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and (m := _ATX_H1.match(line)):
            return own_title(m.group(1).strip("*_ "))
    return None


def extract_markdown(data: bytes, limits: ExtractLimits) -> Extracted:
    """Markdown is read as its plain text (the marks are few and harmless to search); its title is its `# `."""
    extracted = extract_plain(data, limits)
    return replace(extracted, title=markdown_title(extracted.sections[0].text if extracted.sections else ""))


def extract_csv(data: bytes, limits: ExtractLimits) -> Extracted:
    text = decode(data)
    first_line = text[:4096].split("\n", 1)[0]
    delimiter = max(",;\t|", key=first_line.count)
    collector = Collector(limits)
    try:
        add_table(collector, csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error:
        # Not CSV after all (a field over the csv module's limit, a NUL): its text is still worth having.
        return extract_plain(data, limits)
    return collector.result()


def add_table(collector: Collector, rows: Iterable[Iterable[object]], name: str | None = None) -> bool:
    """A table (a CSV, a sheet named `name`) as one table section: its header first (`name`, then the column
    names when the first row is a header), then one line per row, cells joined by " | " in their columns.
    Each chunk repeats the header (eneo.knowledge.chunking), so a row is read with its column names without
    repeating them on every row (which made a 134 KB CSV 800 chunks). Numbers stay as the file wrote them.
    Nothing is added for a table without rows; False once the character budget is spent."""
    lines = ([" ".join(str(v).split()) for v in raw] for raw in rows)
    filled = (_trimmed(row) for row in lines)
    found = (row for row in filled if any(row))
    first = next(found, None)
    if first is None:
        return True
    header_row = first if _header(first) else None
    header = "\n".join(part for part in (name, " | ".join(header_row) if header_row else None) if part)
    if not collector.begin_table(header or None, title=name):
        return False
    body = found if header_row else itertools.chain([first], found)
    return all(collector.add(" | ".join(row)) for row in body)


def _trimmed(row: list[str]) -> list[str]:
    while row and not row[-1]:
        row.pop()
    return row


def _header(row: list[str]) -> bool:
    """A first row of two or more short, distinct, non-numeric labels is a header."""
    values = [v for v in row if v]
    if len(values) < max(len(row), 2) or len(set(values)) < len(values) or max(map(len, values)) > 80:
        return False
    return not any(_number(v) for v in values)


def _number(value: str) -> bool:
    try:
        float(value.replace(",", ".").replace(" ", ""))
        return True
    except ValueError:
        return False


def readable_rows(rows: Iterable[Iterable[str]]) -> Iterator[str]:
    """Table rows as lines a reader (and a retriever) understands out of context.

    With a header, every row names its columns ("Namn: Anna; Roll: Handläggare"), so a chunk that
    starts mid-table still says what each value is; the header line itself comes first.
    """
    header: list[str] | None = None
    for raw in rows:
        row = [" ".join(str(v).split()) for v in raw]
        while row and not row[-1]:
            row.pop()
        if not any(row):
            continue
        if header is None:
            if _header(row):
                header = row
                yield " | ".join(row)
                continue
            header = []
        if header:
            pairs = [f"{header[i]}: {v}" if i < len(header) else v for i, v in enumerate(row) if v]
            yield "; ".join(pairs)
        else:
            yield " | ".join(v for v in row if v)


_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head", "iframe", "object"})
_BLOCK = frozenset({"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
                    "section", "article", "header", "footer", "main", "nav", "aside", "blockquote", "pre",
                    "dd", "dt", "dl", "hr", "figcaption", "caption", "title", "form", "fieldset", "address"})
_CELL = frozenset({"td", "th"})


class _VisibleText(HTMLParser):
    """Visible text of a page: scripts, styles and <head> (except <title>) are dropped; blocks become lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._line: list[str] = []
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _SKIP:
            self._skip += 1
        if tag in _BLOCK:
            self._break()
        elif tag in _CELL and self._line:
            self._line.append(" | ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _SKIP:
            self._skip = max(self._skip - 1, 0)
        if tag in _BLOCK:
            self._break()

    def handle_data(self, data: str) -> None:
        if self._skip and not self._in_title:
            return
        self._line.append(data)

    def _break(self) -> None:
        line = " ".join("".join(self._line).split())
        if line:
            self.lines.append(line)
        self._line = []

    def take(self) -> list[str]:
        lines, self.lines = self.lines, []
        return lines

    def close(self) -> None:
        super().close()
        self._break()


def extract_html(data: bytes, limits: ExtractLimits) -> Extracted:
    text = decode(data)
    collector = Collector(limits)
    collector.begin(sep="\n")
    parser = _VisibleText()
    step = 64 * 1024
    done = False
    for start in range(0, len(text), step):
        collector.tick()
        parser.feed(text[start:start + step])
        if not _feed_lines(collector, parser.take()):
            done = True
            break
    if not done:
        parser.close()
        _feed_lines(collector, parser.take())
    return collector.result()


def _feed_lines(collector: Collector, lines: list[str]) -> bool:
    return all(collector.add(line) for line in lines)
