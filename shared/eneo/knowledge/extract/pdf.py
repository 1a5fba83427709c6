"""PDF text, one section per page (pypdf); a page without a text layer (a scan) is rendered and OCRed.

The page count is read from the page tree's /Count before any page is touched, so a 10,000-page
file is refused in milliseconds; pages are then still counted while reading in case /Count lies.

A page is OCRed only when pypdf finds no text on it at all: a page with a text layer is never OCRed (its
text is exact, and OCR costs a second or more a page). The page budget and the deadline are the same as
for any extraction. Where Tesseract is not installed, the pages with text are kept (and the gap is
logged); a PDF with no text anywhere then fails `ocr_unavailable`.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from pypdf import PasswordType, PdfReader

from eneo.knowledge.extract.budget import Collector
from eneo.knowledge.extract.ocr import PdfPages, ocr_available, prepare, recognize
from eneo.knowledge.extract.types import Extracted, ExtractionError, ExtractLimits, own_title

# pypdf reports recoverable oddities of real-world files as warnings; they are noise in our logs.
logging.getLogger("pypdf").setLevel(logging.ERROR)
log = logging.getLogger("eneo.knowledge.extract")


def _too_many(pages: int, limits: ExtractLimits) -> ExtractionError:
    return ExtractionError("too_many_pages", f"the PDF has {pages} pages; at most {limits.max_pages} are accepted")


def _declared_pages(reader: PdfReader) -> int | None:
    try:
        root: Any = reader.trailer["/Root"]
        return int(root["/Pages"]["/Count"])
    except Exception:  # a broken tree is dealt with when the pages are read
        return None


def _check_page_tree(reader: PdfReader, limits: ExtractLimits, collector: Collector) -> None:
    """Count the leaves of the page tree, giving up past the limit or at a loop, within the deadline.

    pypdf flattens the whole tree on the first access to `reader.pages`, however large it is; this walk
    stops after `max_pages` pages, and at an inner node reached twice (a loop, or pages multiplied by
    sharing a subtree).
    """
    root: Any = reader.trailer["/Root"]
    stack: list[Any] = [root["/Pages"]]
    seen: set[tuple[int, int] | int] = set()
    leaves = 0
    while stack:
        collector.tick()
        node = stack.pop().get_object()
        kids = node.get("/Kids") if node.get("/Type") != "/Page" else None
        if kids is None:
            leaves += 1
            if leaves > limits.max_pages:
                raise ExtractionError("too_many_pages", f"the PDF has more than {limits.max_pages} pages, the "
                                                        "most accepted")
            continue
        ref = getattr(node, "indirect_reference", None)
        key = (ref.idnum, ref.generation) if ref is not None else id(node)
        if key in seen:
            raise ExtractionError("corrupt", "the PDF's page tree is malformed (a part of it is reached twice)")
        seen.add(key)
        stack.extend(kids.get_object())


def _open(data: bytes) -> PdfReader:
    if b"%%EOF" not in data:
        raise ExtractionError("corrupt", "the PDF is incomplete (it has no end-of-file marker; was it cut short?)")
    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        # Many PDFs are encrypted only to restrict printing or copying, with an empty user password:
        # those open like any other. A real password cannot be supplied here.
        try:
            opened = reader.decrypt("")
        except Exception:
            opened = PasswordType.NOT_DECRYPTED
        if opened == PasswordType.NOT_DECRYPTED:
            raise ExtractionError("encrypted", "the PDF is password-protected; remove the password and upload it again")
    return reader


def extract_pdf(data: bytes, limits: ExtractLimits) -> Extracted:
    reader = _open(data)
    declared = _declared_pages(reader)
    if declared is not None and declared > limits.max_pages:
        raise _too_many(declared, limits)
    collector = Collector(limits)
    _check_page_tree(reader, limits, collector)
    pages = 0
    scans = PdfPages(data, limits)
    ocr = ocr_available()
    ocr_pages: list[int] = []
    unread: list[int] = []
    try:
        for number, page in enumerate(reader.pages, start=1):
            if number > limits.max_pages:
                raise _too_many(len(reader.pages), limits)
            collector.tick()
            pages = number
            collector.begin(page=number)
            text = page.extract_text() or ""
            if not text.strip():
                if not ocr:
                    unread.append(number)
                    continue
                ocr_pages.append(number)
                text = recognize(prepare(scans.render(number)), collector)
            if not collector.add(text):
                break
    finally:
        scans.close()
    if not collector.has_text():
        if pages == 0:
            raise ExtractionError("empty", "the PDF has no pages")
        if unread:
            raise ExtractionError("ocr_unavailable", "the PDF has no text layer (scanned?), and OCR is not "
                                                     "available on this server (Tesseract is not installed)")
        raise ExtractionError("no_text_layer", f"the PDF has no text layer, and OCR found no text on its "
                                               f"{pages} page{'s' if pages != 1 else ''}")
    if unread:
        log.warning("pdf pages without text layer not read: no tesseract", extra={"pages": len(unread)})
    return Extracted(collector.sections(), len(reader.pages), collector.truncated, _title(reader),
                     ocr_pages=tuple(ocr_pages), language=_language(reader))


def _language(reader: PdfReader) -> str | None:
    """The catalog's /Lang (a tagged PDF's language, e.g. `sv-SE`), if it has one."""
    try:
        lang = reader.root_object.get("/Lang")
    except Exception:  # a damaged catalog: no language, detection decides
        return None
    return str(lang) if lang else None


def _title(reader: PdfReader) -> str | None:
    """The document information's /Title, when it holds one (a damaged dictionary is no title, not a failure)."""
    try:
        return own_title(reader.metadata.title if reader.metadata else None)
    except Exception:  # pypdf raises many kinds for a bad info dictionary: no title, the text stands
        return None
