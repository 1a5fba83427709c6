"""OpenDocument text, spreadsheets and presentations (ODT, ODS, ODP): what LibreOffice saves, and the open
format Swedish public bodies are asked to accept.

An OpenDocument file is a zip archive of XML parts, read here with lxml directly (no extra package): the
archive is checked like an OOXML one first (eneo.knowledge.extract.office.check_zip), the XML parser resolves
no entities and fetches nothing, and repeated rows and columns (a sheet's million empty rows are one element
saying so) are expanded only as far as they hold text. What is read matches the OOXML readers: a text's
headers, body, tables, footers and footnotes; a spreadsheet's sheets as tables; a presentation's slides,
tables and notes. Comments and tracked deletions are not document text and are left out.
"""

from __future__ import annotations

import io
import itertools
import zipfile
from collections.abc import Iterator
from typing import Any

from eneo.knowledge.extract.budget import Collector
from eneo.knowledge.extract.office import check_zip, read_slides, value_text
from eneo.knowledge.extract.text import add_table, readable_rows
from eneo.knowledge.extract.types import DocumentType, Extracted, ExtractionError, ExtractLimits, own_title

_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_DRAW = "{urn:oasis:names:tc:opendocument:xmlns:drawing:1.0}"
_STYLE = "{urn:oasis:names:tc:opendocument:xmlns:style:1.0}"
_PRESENTATION = "{urn:oasis:names:tc:opendocument:xmlns:presentation:1.0}"
_META = "{urn:oasis:names:tc:opendocument:xmlns:meta:1.0}"
_DC = "{http://purl.org/dc/elements/1.1/}"

MEDIA_TYPES = {
    "application/vnd.oasis.opendocument.text": DocumentType.ODT,
    "application/vnd.oasis.opendocument.spreadsheet": DocumentType.ODS,
    "application/vnd.oasis.opendocument.presentation": DocumentType.ODP,
}
# Inline elements that are not the paragraph's own text: footnotes are read after the body, comments and
# the record of tracked changes (which holds deleted text) never.
_SKIPPED_INLINE = frozenset({f"{_TEXT}note", f"{_OFFICE}annotation", f"{_OFFICE}annotation-end",
                             f"{_TEXT}tracked-changes", f"{_TEXT}bookmark-ref"})
_CONTAINERS = frozenset({f"{_TEXT}list", f"{_TEXT}list-item", f"{_TEXT}list-header", f"{_TEXT}section",
                         f"{_TEXT}index-body", f"{_TEXT}table-of-content", f"{_TEXT}alphabetical-index",
                         f"{_TEXT}illustration-index", f"{_TEXT}table-index", f"{_TEXT}user-index",
                         f"{_TEXT}bibliography", f"{_TEXT}object-index", f"{_TEXT}index-title"})
_ROW_GROUPS = frozenset({f"{_TABLE}table-header-rows", f"{_TABLE}table-rows", f"{_TABLE}table-row-group"})
MAX_REPEAT = 10_000  # copies of one repeated row or cell that hold text (the character budget stops sooner)


def odf_type(archive: zipfile.ZipFile) -> DocumentType | None:
    """The OpenDocument kind an archive declares in its `mimetype` part, or None for any other archive."""
    try:
        member = archive.getinfo("mimetype")
    except KeyError:
        return None
    if member.file_size > 200:
        return None
    return MEDIA_TYPES.get(archive.read(member).decode("ascii", "replace").strip())


def extract_odt(data: bytes, limits: ExtractLimits) -> Extracted:
    archive, content, meta = _open(data, limits)
    collector = Collector(limits)
    collector.begin()
    body = _body(content, f"{_OFFICE}text")
    headers, footers = _margins(archive)
    for text in itertools.chain(headers, _blocks(body, collector), footers, _notes(body)):
        if not collector.add(text):
            break
    return _result(collector, 1, meta)


def extract_ods(data: bytes, limits: ExtractLimits) -> Extracted:
    _, content, meta = _open(data, limits)
    collector = Collector(limits)
    sheets = _body(content, f"{_OFFICE}spreadsheet").findall(f"{_TABLE}table")
    for sheet in sheets:
        if not add_table(collector, _rows(sheet, collector, numbers=True), name=sheet.get(f"{_TABLE}name")):
            break
    return _result(collector, len(sheets), meta, what="spreadsheet")


def extract_odp(data: bytes, limits: ExtractLimits) -> Extracted:
    _, content, meta = _open(data, limits)
    slides = _body(content, f"{_OFFICE}presentation").findall(f"{_DRAW}page")

    collector = Collector(limits)

    def texts_of(slide: Any) -> Iterator[str]:
        yield from _blocks(slide, collector)
        notes = slide.find(f"{_PRESENTATION}notes")
        if notes is not None:
            yield from _blocks(notes, collector)

    read_slides(slides, texts_of, collector)
    return _result(collector, len(slides), meta)


def _open(data: bytes, limits: ExtractLimits) -> tuple[zipfile.ZipFile, Any, Any]:
    check_zip(data, limits)
    archive = zipfile.ZipFile(io.BytesIO(data))
    names = set(archive.namelist())
    manifest = archive.read("META-INF/manifest.xml") if "META-INF/manifest.xml" in names else b""
    if b"encryption-data" in manifest:
        raise ExtractionError("encrypted", "the document is password-protected; remove the password and upload "
                                           "it again")
    if "content.xml" not in names:
        raise ExtractionError("corrupt", "the OpenDocument file has no content part (damaged?)")
    meta = _xml(archive.read("meta.xml")) if "meta.xml" in names else None
    return archive, _xml(archive.read("content.xml")), meta


def _xml(data: bytes) -> Any:
    from lxml import etree

    return etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))


def _body(content: Any, kind: str) -> Any:
    body = content.find(f"{_OFFICE}body/{kind}")
    if body is None:
        raise ExtractionError("corrupt", "the OpenDocument file's content is not the kind its type says (damaged?)")
    return body


def _result(collector: Collector, pages: int, meta: Any, what: str = "document") -> Extracted:
    if not collector.has_text():
        raise ExtractionError("empty", f"the {what} contains no text")
    title = language = None
    if meta is not None:
        title = meta.findtext(f"{_OFFICE}meta/{_DC}title")
        language = meta.findtext(f"{_OFFICE}meta/{_DC}language") or None
    return Extracted(collector.sections(), pages, collector.truncated, own_title(title), language=language)


def _blocks(parent: Any, collector: Collector) -> Iterator[str]:
    """Paragraphs, headings and tables in document order, through lists, sections and drawn frames."""
    for element in parent:
        collector.tick()
        tag = element.tag
        if not isinstance(tag, str):  # an XML comment or processing instruction
            continue
        if tag in (f"{_TEXT}p", f"{_TEXT}h"):
            yield _inline(element)
        elif tag == f"{_TABLE}table":
            yield "\n".join(readable_rows(_rows(element, collector)))
        elif tag in _CONTAINERS or tag.startswith(_DRAW):  # a slide's frames and text boxes hold its text
            yield from _blocks(element, collector)


def _inline(element: Any) -> str:
    """A paragraph's text: spans and links as their text, `text:s` as its spaces, tabs and line breaks."""
    parts = [element.text or ""]
    for child in element:
        tag = child.tag
        if tag == f"{_TEXT}s":
            parts.append(" " * min(_count(child, f"{_TEXT}c"), 100))
        elif tag == f"{_TEXT}tab":
            parts.append("\t")
        elif tag == f"{_TEXT}line-break":
            parts.append("\n")
        elif tag not in _SKIPPED_INLINE and isinstance(tag, str):
            parts.append(_inline(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _rows(table: Any, collector: Collector, numbers: bool = False) -> Iterator[list[str]]:
    """A table's rows as lists of cell texts. A merged cell's covered neighbours are skipped (as in DOCX);
    repeated rows and cells are expanded only when they hold text."""
    for element in table:
        if element.tag in _ROW_GROUPS:
            yield from _rows(element, collector, numbers)
        elif element.tag == f"{_TABLE}table-row":
            collector.tick()
            cells: list[str] = []
            for cell in element.iterchildren(f"{_TABLE}table-cell"):
                value = _cell_text(cell, numbers)
                cells.extend([value] * min(_count(cell, f"{_TABLE}number-columns-repeated"), MAX_REPEAT))
            while cells and not cells[-1]:
                cells.pop()
            if cells:
                for _ in range(min(_count(element, f"{_TABLE}number-rows-repeated"), MAX_REPEAT)):
                    yield cells


def _cell_text(cell: Any, numbers: bool) -> str:
    """What a cell holds: in a spreadsheet a number or date as its value (as the XLSX reader gives it: 1234.5,
    2026-03-01), whatever its display format; otherwise, and for text, its paragraphs."""
    kind = cell.get(f"{_OFFICE}value-type")
    number = _float(cell.get(f"{_OFFICE}value")) if numbers and kind == "float" else None
    if number is not None:
        return value_text(number)
    date = cell.get(f"{_OFFICE}date-value") if numbers and kind == "date" else None
    if date:
        return date.removesuffix("T00:00:00")
    return "\n".join(_inline(p) for p in cell.iter(f"{_TEXT}p", f"{_TEXT}h"))


def _float(value: str | None) -> float | None:
    """A cell's `office:value`; None when missing or malformed (its displayed text is used instead)."""
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _count(element: Any, attribute: str) -> int:
    try:
        return max(int(element.get(attribute, "1")), 1)
    except ValueError:
        return 1


def _margins(archive: zipfile.ZipFile) -> tuple[list[str], list[str]]:
    """The distinct texts of the page styles' headers and footers (styles.xml): reference numbers, dates and
    the issuing office live there, as in a DOCX's."""
    if "styles.xml" not in archive.namelist():
        return [], []
    styles = _xml(archive.read("styles.xml"))
    found: dict[str, list[str]] = {"header": [], "footer": []}
    for page in styles.iter(f"{_STYLE}master-page"):
        for kind, texts in found.items():
            for variant in (f"{kind}-first", f"{kind}-left", kind):
                for part in page.iterchildren(f"{_STYLE}{variant}"):
                    text = "\n".join(t for t in (_inline(p) for p in part.iter(f"{_TEXT}p", f"{_TEXT}h")) if t.strip())
                    if text and text not in texts:
                        texts.append(text)
    return found["header"], found["footer"]


def _notes(body: Any) -> Iterator[str]:
    """Footnotes and endnotes, after the body (the DOCX reader's order)."""
    for note in body.iter(f"{_TEXT}note-body"):
        text = "\n".join(t for t in (_inline(p) for p in note.iter(f"{_TEXT}p")) if t.strip())
        if text:
            yield text
