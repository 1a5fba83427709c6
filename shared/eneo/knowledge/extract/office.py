"""Word, Excel and PowerPoint (OOXML) text.

These are zip archives, so the central directory is checked before any library inflates a member:
a declared total over `max_unpacked_bytes`, or a large member compressed more than 100:1, is a zip
bomb (`unpack_limit`). zipfile never inflates a member past its declared size, so the check holds.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import logging
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from eneo.core.text import human_size
from eneo.knowledge.extract.budget import Collector
from eneo.knowledge.extract.ooxml_repair import ooxml_repaired
from eneo.knowledge.extract.text import add_table, readable_rows
from eneo.knowledge.extract.types import Extracted, ExtractionError, ExtractLimits, own_title

log = logging.getLogger("eneo.knowledge.extract")

MAX_RATIO = 100
RATIO_MIN_BYTES = 1024 * 1024
MAX_MEMBERS = 10_000


def check_zip(data: bytes, limits: ExtractLimits) -> None:
    """Refuse archives that would unpack to more than the limits allow, from the central directory alone."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ExtractionError("corrupt", "the file is not a readable zip archive (damaged or cut short?)") from exc
    if len(members) > MAX_MEMBERS:
        raise ExtractionError("unpack_limit", f"the archive has {len(members)} parts; at most {MAX_MEMBERS} "
                                              "are accepted")
    total = sum(m.file_size for m in members)
    if total > limits.max_unpacked_bytes:
        raise ExtractionError("unpack_limit", f"the file unpacks to {human_size(total)}; at most "
                                              f"{human_size(limits.max_unpacked_bytes)} are accepted")
    for member in members:
        if member.file_size > RATIO_MIN_BYTES and member.file_size > MAX_RATIO * max(member.compress_size, 1):
            raise ExtractionError("unpack_limit", f"a part of the file is compressed more than {MAX_RATIO}:1 "
                                                  "(a zip bomb?)")


def extract_docx(data: bytes, limits: ExtractLimits) -> Extracted:
    from docx import Document
    from docx.table import Table

    check_zip(data, limits)
    document = Document(io.BytesIO(ooxml_repaired(data)))
    collector = Collector(limits)
    collector.begin()
    # Headers first (reference numbers, dates and the issuing office live there), then the body, then the
    # footers and the footnotes: all of it is text someone may search for.
    texts = itertools.chain(_margins(document, "header"), _body(document, Table),
                            _margins(document, "footer"), _footnotes(document))
    for text in texts:
        if not collector.add(text):
            break
    return replace(collector.result(1), title=own_title(document.core_properties.title),
                   language=document.core_properties.language or None)


def _body(document: Any, table_type: type) -> Iterator[str]:
    for block in document.iter_inner_content():
        yield "\n".join(readable_rows(_docx_rows(block))) if isinstance(block, table_type) else block.text


def _margins(document: Any, kind: str) -> Iterator[str]:
    """Each distinct header (or footer) text of the document's sections: first-page, even and default ones;
    a section that repeats its predecessor's (linked) adds nothing."""
    seen: set[str] = set()
    for section in document.sections:
        for variant in (f"first_page_{kind}", f"even_page_{kind}", kind):
            part = getattr(section, variant)
            if part.is_linked_to_previous:
                continue
            text = "\n".join(p.text for p in part.paragraphs if p.text.strip())
            tables = "\n".join("\n".join(readable_rows(_docx_rows(t))) for t in part.tables)
            for piece in (text, tables):
                if piece.strip() and piece not in seen:
                    seen.add(piece)
                    yield piece


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_FOOTNOTES = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/footnotes"


def _footnotes(document: Any) -> Iterator[str]:
    """The footnotes' text (python-docx does not read them): the footnotes part's notes, separators skipped."""
    from lxml import etree

    for rel in document.part.rels.values():
        if rel.reltype != _FOOTNOTES or rel.is_external:
            continue
        root = etree.fromstring(rel.target_part.blob, parser=etree.XMLParser(resolve_entities=False, no_network=True))
        for note in root.iter(f"{_W}footnote"):
            if note.get(f"{_W}type") in ("separator", "continuationSeparator", "continuationNotice"):
                continue
            paragraphs = ["".join(t.text or "" for t in p.iter(f"{_W}t")) for p in note.iter(f"{_W}p")]
            text = "\n".join(p for p in paragraphs if p.strip())
            if text:
                yield text


def _docx_rows(table: Any) -> Iterator[list[str]]:
    for row in table.rows:
        seen: set[int] = set()
        cells = []
        for cell in row.cells:  # a merged cell comes back once per grid column it spans
            if id(cell._tc) not in seen:
                seen.add(id(cell._tc))
                cells.append(cell.text)
        yield cells


def value_text(value: object) -> str:
    """A spreadsheet value as text: whole numbers without `.0`, dates without a midnight time."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    return str(value)


def extract_xlsx(data: bytes, limits: ExtractLimits) -> Extracted:
    from openpyxl import load_workbook

    check_zip(data, limits)
    workbook = load_workbook(io.BytesIO(ooxml_repaired(data)), read_only=True, data_only=True)
    collector = Collector(limits)
    sheets = 0
    try:
        for sheet in workbook.worksheets:
            sheets += 1
            # The size a sheet states can be all of it (A1:XFD1048576, as some programs write), and every row
            # would be padded to 16,384 cells: a 145 KB file ran past the time limit. Its stored cells are
            # what it holds.
            sheet.reset_dimensions()
            rows = ([value_text(v) for v in row] for row in _ticking(sheet.iter_rows(values_only=True), collector))
            if not add_table(collector, rows, name=sheet.title):
                break
    finally:
        workbook.close()
    # A sheet's name alone is not content: a sheet without rows adds no section.
    if not collector.has_text():
        raise ExtractionError("empty", "the workbook contains no text")
    return Extracted(collector.sections(), sheets, collector.truncated)


def _ticking(rows: Iterator[Any], collector: Collector) -> Iterator[Any]:
    """Rows of empty cells add no text; the deadline must still apply to them."""
    for row in rows:
        collector.tick()
        yield row


def extract_pptx(data: bytes, limits: ExtractLimits) -> Extracted:
    from pptx import Presentation

    check_zip(data, limits)
    slides = Presentation(io.BytesIO(ooxml_repaired(data))).slides
    collector = Collector(limits)
    read_slides(slides, _slide_texts, collector)
    return collector.result(len(slides))


def read_slides(slides: Sequence[Any], texts_of: Callable[[Any], Iterable[str]], collector: Collector) -> None:
    """A presentation's slides into `collector`, a section each with the slide's number as its page, within
    the page limit and the character budget (PPTX and ODP alike)."""
    if len(slides) > collector.limits.max_pages:
        raise ExtractionError("too_many_pages", f"the presentation has {len(slides)} slides; at most "
                                                f"{collector.limits.max_pages} are accepted")
    for number, slide in enumerate(slides, start=1):
        collector.begin(page=number)
        if not all(collector.add(t) for t in texts_of(slide)):
            break


def _slide_texts(slide: Any) -> Iterator[str]:
    yield from _shape_texts(slide.shapes)
    if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
        yield slide.notes_slide.notes_text_frame.text


def _shape_texts(shapes: Any) -> Iterator[str]:
    from pptx.shapes.group import GroupShape

    for shape in shapes:
        if isinstance(shape, GroupShape):
            yield from _shape_texts(shape.shapes)
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            yield shape.text_frame.text
        elif getattr(shape, "has_table", False) and shape.has_table:
            yield "\n".join(readable_rows([c.text for c in row.cells] for row in shape.table.rows))
        elif getattr(shape, "has_chart", False) and shape.has_chart:
            yield _chart_text(shape.chart)


def _chart_text(chart: Any) -> str:
    """A chart's title and its figures, a line per series ("Besökare: januari 1200; februari 1350"): a slide's
    numbers often live only in its charts. A plot whose data cannot be read (an odd chart type, a broken
    embedded workbook) keeps the title and the other plots rather than failing the presentation."""
    lines = []
    if chart.has_title and chart.chart_title.has_text_frame:
        lines.append(chart.chart_title.text_frame.text)
    for plot in chart.plots:
        try:
            categories = [value_text(c) for c in plot.categories]
            series = [(s.name, list(s.values)) for s in plot.series]
        except Exception as exc:  # python-pptx raises many kinds on chart XML it does not expect
            log.info("chart data not read", extra={"error": type(exc).__name__})
            continue
        for name, values in series:
            points = [f"{c} {value_text(v)}".strip() for c, v in zip(categories or itertools.repeat(""), values,
                                                              strict=False) if v is not None]
            lines.append(f"{name}: {'; '.join(points)}" if name else "; ".join(points))
    return "\n".join(line for line in lines if line.strip())
