"""`extract`: one entry point that picks the extractor and turns any parser failure into `corrupt`."""

from __future__ import annotations

import logging
from collections.abc import Callable

from eneo.knowledge.extract.office import extract_docx, extract_pptx, extract_xlsx
from eneo.knowledge.extract.text import extract_csv, extract_html, extract_markdown, extract_plain
from eneo.knowledge.extract.types import DocumentType, Extracted, ExtractionError, ExtractLimits, is_audio

log = logging.getLogger("eneo.knowledge.extract")


def extract_pdf(data: bytes, limits: ExtractLimits) -> Extracted:
    """pypdf is imported on first use, like the office parsers: it ships in DocumentsLayer, which only the
    ingest function has (layers/README.md), and the knowledge function imports this package for `detect`."""
    from eneo.knowledge.extract.pdf import extract_pdf as run

    return run(data, limits)


def extract_opendocument(doc_type: DocumentType) -> Extractor:
    """lxml (DocumentsLayer, with the office parsers) is reached only when an OpenDocument file is extracted."""

    def run(data: bytes, limits: ExtractLimits) -> Extracted:
        from eneo.knowledge.extract import opendocument

        read = {DocumentType.ODT: opendocument.extract_odt, DocumentType.ODS: opendocument.extract_ods,
                DocumentType.ODP: opendocument.extract_odp}[doc_type]
        return read(data, limits)

    return run


def extract_image(doc_type: DocumentType) -> Extractor:
    """Pillow (DocumentsLayer) and Tesseract are reached only when an image is extracted."""

    def run(data: bytes, limits: ExtractLimits) -> Extracted:
        from eneo.knowledge.extract.ocr import extract_image as ocr

        return ocr(data, doc_type, limits)

    return run


Extractor = Callable[[bytes, ExtractLimits], Extracted]
_EXTRACTORS: dict[DocumentType, Extractor] = {
    DocumentType.TEXT: extract_plain,
    DocumentType.MARKDOWN: extract_markdown,
    DocumentType.CSV: extract_csv,
    DocumentType.HTML: extract_html,
    DocumentType.PDF: extract_pdf,
    DocumentType.DOCX: extract_docx,
    DocumentType.XLSX: extract_xlsx,
    DocumentType.PPTX: extract_pptx,
    DocumentType.ODT: extract_opendocument(DocumentType.ODT),
    DocumentType.ODS: extract_opendocument(DocumentType.ODS),
    DocumentType.ODP: extract_opendocument(DocumentType.ODP),
    DocumentType.PNG: extract_image(DocumentType.PNG),
    DocumentType.JPEG: extract_image(DocumentType.JPEG),
    DocumentType.TIFF: extract_image(DocumentType.TIFF),
}


def extract(data: bytes, doc_type: DocumentType, limits: ExtractLimits | None = None) -> Extracted:
    """The text of a document of a detected type, within `limits`; raises `ExtractionError`.

    Audio has no text to extract: it goes to a transcription model, and its transcript comes back here
    as `DocumentType.TEXT`.
    """
    if is_audio(doc_type):
        raise ValueError("audio is transcribed, not extracted")
    if not data:
        raise ExtractionError("empty", "the file is empty")
    limits = limits or ExtractLimits()
    try:
        return _EXTRACTORS[doc_type](data, limits)
    except (ExtractionError, ImportError, MemoryError):
        raise  # a missing parser (a layer not attached) or memory is the deployment's fault, not the file's
    except (Exception, RecursionError) as exc:
        # The parser's message may quote the document; only its type is kept (and logged).
        log.info("extraction failed", extra={"doc_type": doc_type.value, "error": type(exc).__name__})
        raise ExtractionError("corrupt", f"the {doc_type.label} could not be read (damaged or not a valid "
                                         f"{doc_type.label} file)") from exc
