"""The vocabulary of extraction: what a document is, what came out of it, the limits, the failures.

`ACCEPTED_TYPES` is the one list of what uploads may be (media types, extensions, the size limit that
applies); detection, the upload checks and `GET /api/v1/limits/` all read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

from eneo.core.errors import EneoError
from eneo.core.text import storable_text


class DocumentType(StrEnum):
    TEXT = "text"
    MARKDOWN = "markdown"
    CSV = "csv"
    HTML = "html"
    PDF = "pdf"
    DOCX = "docx"
    XLSX = "xlsx"
    PPTX = "pptx"
    ODT = "odt"
    ODS = "ods"
    ODP = "odp"
    PNG = "png"
    JPEG = "jpeg"
    TIFF = "tiff"
    MP3 = "mp3"
    WAV = "wav"
    OGG = "ogg"
    FLAC = "flac"
    M4A = "m4a"
    WEBM = "webm"

    @property
    def accepted(self) -> AcceptedType:
        return _BY_TYPE[self]

    @property
    def media_type(self) -> str:
        """The canonical media type (what `info_blobs.content_type` stores)."""
        return self.accepted.media_type

    @property
    def extension(self) -> str:
        """The usual extension with its dot; transcription APIs read the format from the file name."""
        return self.accepted.extensions[0]

    @property
    def label(self) -> str:
        return self.accepted.label


Family = Literal["text", "pdf", "docx", "xlsx", "pptx", "odt", "ods", "odp", "image", "audio"]
LimitSetting = Literal["upload_max_bytes", "audio_max_bytes"]


class _SizeSettings(Protocol):
    upload_max_bytes: int
    audio_max_bytes: int


@dataclass(frozen=True)
class AcceptedType:
    type: DocumentType
    label: str
    media_type: str
    extensions: tuple[str, ...]
    family: Family
    limit_setting: LimitSetting = "upload_max_bytes"
    # Other media types clients send for the same thing (browsers and OSes disagree).
    aliases: tuple[str, ...] = field(default=())

    def max_bytes(self, settings: _SizeSettings) -> int:
        return int(getattr(settings, self.limit_setting))


_DOC: LimitSetting = "upload_max_bytes"
_AUDIO: LimitSetting = "audio_max_bytes"
_OOXML = "application/vnd.openxmlformats-officedocument."
_ODF = "application/vnd.oasis.opendocument."

ACCEPTED_TYPES: tuple[AcceptedType, ...] = (
    AcceptedType(DocumentType.PDF, "PDF", "application/pdf", (".pdf",), "pdf", _DOC, ("application/x-pdf",)),
    # .docm, .pptm, .ppsx: the macro-enabled and slideshow variants, read as the plain file (macros never run).
    AcceptedType(DocumentType.DOCX, "Word document (DOCX, DOCM)", _OOXML + "wordprocessingml.document",
                 (".docx", ".docm"), "docx", _DOC, ("application/vnd.ms-word.document.macroenabled.12",)),
    # .xlsm is a workbook with macros: read as one (its text and values), the macros are never run or read.
    AcceptedType(DocumentType.XLSX, "Excel workbook (XLSX, XLSM)", _OOXML + "spreadsheetml.sheet", (".xlsx", ".xlsm"),
                 "xlsx", _DOC, ("application/vnd.ms-excel.sheet.macroenabled.12",)),
    AcceptedType(DocumentType.PPTX, "PowerPoint presentation (PPTX, PPTM, PPSX)",
                 _OOXML + "presentationml.presentation", (".pptx", ".pptm", ".ppsx"), "pptx", _DOC,
                 ("application/vnd.ms-powerpoint.presentation.macroenabled.12", _OOXML + "presentationml.slideshow")),
    # OpenDocument (LibreOffice's own format), read like their OOXML counterparts (eneo.knowledge.extract.opendocument).
    AcceptedType(DocumentType.ODT, "OpenDocument text (ODT)", _ODF + "text", (".odt",), "odt"),
    AcceptedType(DocumentType.ODS, "OpenDocument spreadsheet (ODS)", _ODF + "spreadsheet", (".ods",), "ods"),
    AcceptedType(DocumentType.ODP, "OpenDocument presentation (ODP)", _ODF + "presentation", (".odp",), "odp"),
    # Images (a photographed or scanned page) are read by OCR (eneo.knowledge.extract.ocr); a TIFF's frames are pages.
    AcceptedType(DocumentType.PNG, "PNG image", "image/png", (".png",), "image"),
    AcceptedType(DocumentType.JPEG, "JPEG image", "image/jpeg", (".jpg", ".jpeg", ".jpe"), "image", _DOC,
                 ("image/jpg", "image/pjpeg")),
    AcceptedType(DocumentType.TIFF, "TIFF image", "image/tiff", (".tif", ".tiff"), "image", _DOC, ("image/x-tiff",)),
    AcceptedType(DocumentType.HTML, "HTML", "text/html", (".html", ".htm"), "text", _DOC, ("application/xhtml+xml",)),
    AcceptedType(DocumentType.CSV, "CSV", "text/csv", (".csv",), "text", _DOC,
                 ("application/csv", "text/x-csv", "text/comma-separated-values")),
    AcceptedType(DocumentType.MARKDOWN, "Markdown", "text/markdown", (".md", ".markdown"), "text", _DOC,
                 ("text/x-markdown",)),
    AcceptedType(DocumentType.TEXT, "plain text", "text/plain", (".txt", ".text"), "text"),
    AcceptedType(DocumentType.MP3, "MP3 audio", "audio/mpeg", (".mp3", ".mpga"), "audio", _AUDIO,
                 ("audio/mp3", "audio/mpeg3", "audio/x-mpeg-3", "audio/mpga")),
    AcceptedType(DocumentType.WAV, "WAV audio", "audio/wav", (".wav",), "audio", _AUDIO,
                 ("audio/x-wav", "audio/wave", "audio/vnd.wave")),
    AcceptedType(DocumentType.OGG, "Ogg audio", "audio/ogg", (".ogg", ".oga"), "audio", _AUDIO, ("application/ogg",)),
    AcceptedType(DocumentType.FLAC, "FLAC audio", "audio/flac", (".flac",), "audio", _AUDIO, ("audio/x-flac",)),
    AcceptedType(DocumentType.M4A, "MPEG-4 audio (M4A/MP4)", "audio/mp4", (".m4a", ".mp4"), "audio", _AUDIO,
                 ("audio/x-m4a", "audio/m4a", "video/mp4")),
    AcceptedType(DocumentType.WEBM, "WebM audio", "audio/webm", (".webm",), "audio", _AUDIO, ("video/webm",)),
)
_BY_TYPE = {a.type: a for a in ACCEPTED_TYPES}
_BY_EXTENSION = {ext: a for a in ACCEPTED_TYPES for ext in a.extensions}
_BY_MEDIA_TYPE = {media: a for a in ACCEPTED_TYPES for media in (a.media_type, *a.aliases)}
# What clients declare for a file they know nothing about: the name has to tell.
GENERIC_MEDIA_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/x-unknown"})


def media_type_of(declared_type: str | None) -> str:
    """A declared media type without parameters, in lower case (`Text/Plain; charset=utf-8` -> `text/plain`)."""
    return (declared_type or "").split(";", 1)[0].strip().lower()


def extension_of(filename: str | None) -> str:
    """A file name's extension with its dot, in lower case; "" for none (a folder in the name is left out)."""
    name = (filename or "").strip().rsplit("/", 1)[-1].rsplit("\\", 1)[-1].lower()
    return name[name.rfind("."):] if "." in name else ""


def by_extension(filename: str | None) -> AcceptedType | None:
    return _BY_EXTENSION.get(extension_of(filename))


def by_media_type(declared_type: str | None) -> AcceptedType | None:
    return _BY_MEDIA_TYPE.get(media_type_of(declared_type))

ACCEPTED_LABELS = ", ".join(a.extensions[0].lstrip(".").upper() for a in ACCEPTED_TYPES)


def is_audio(doc_type: DocumentType) -> bool:
    """Audio is transcribed (by a model provider), not extracted."""
    return doc_type.accepted.family == "audio"


def accepted_types(settings: _SizeSettings) -> list[dict[str, Any]]:
    """What `GET /api/v1/limits/` shows: one entry per kind with the size limit that applies to it."""
    return [{"type": a.type.value, "label": a.label, "media_type": a.media_type,
             "media_types": [a.media_type, *a.aliases], "extensions": list(a.extensions),
             "max_bytes": a.max_bytes(settings)} for a in ACCEPTED_TYPES]


@dataclass(frozen=True)
class Section:
    """A run of text with the page it is on (PDF page, slide number; None where there are no pages).

    `table`: the text is a table's rows, one a line (a CSV, a sheet), chunked as groups of whole rows;
    `header`, when the table has one, is the text's first line(s) (column names, a sheet's name), and
    every chunk of the table begins with it (eneo.knowledge.chunking)."""

    text: str
    page: int | None = None
    title: str | None = None
    table: bool = False
    header: str | None = None


@dataclass(frozen=True)
class Extracted:
    """`pages`: PDF pages, slides, sheets; 1 for flowing text. `truncated`: text stopped at max_chars.
    `title`: the document's own title (a Markdown `# heading`, a PDF's or a DOCX's title property), if any.
    `ocr_pages`: the pages whose text came from OCR (a PDF page without a text layer, an image), from 1.
    `language`: the language tag the file states (a PDF's /Lang, a DOCX's language property), if any."""

    sections: list[Section]
    pages: int
    truncated: bool = False
    title: str | None = None
    ocr_pages: tuple[int, ...] = ()
    language: str | None = None

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections)


TITLE_MAX_CHARS = 500  # what info_blobs.title holds
_NOT_TITLES = re.compile(r"^(untitled|unbenannt|namnlös|document\d*|dokument\d*)$|\.(pdf|docx?|odt|rtf|txt|md)$",
                         re.IGNORECASE)


def own_title(value: object) -> str | None:
    """A document's title property as a title, or None when it is empty or a placeholder: word processors
    write "Untitled" or the source file's name ("Microsoft Word - rapport.docx") when nobody set one."""
    if not isinstance(value, str):
        return None
    title = " ".join(storable_text(value).split())[:TITLE_MAX_CHARS]
    return title if title and not _NOT_TITLES.search(title) else None


class _ExtractSettings(Protocol):
    extract_max_pages: int
    extract_max_chars: int
    extract_max_unpacked_bytes: int
    extract_timeout_seconds: float
    ocr_languages: str
    ocr_dpi: int
    ocr_max_pixels: int


@dataclass(frozen=True)
class ExtractLimits:
    """Bounds that keep a hostile file from costing more than a fixed amount of time and memory."""

    max_pages: int = 2000
    max_chars: int = 5_000_000
    max_unpacked_bytes: int = 200 * 1024 * 1024
    timeout_seconds: float = 60.0
    # OCR: Tesseract's languages ("swe+eng": Swedish and English models together) and the largest image
    # (in pixels) it is given; a page of a PDF is rendered at `ocr_dpi`, scaled down to fit that.
    ocr_languages: str = "swe+eng"
    ocr_dpi: int = 300
    ocr_max_pixels: int = 40_000_000

    @classmethod
    def from_settings(cls, settings: _ExtractSettings) -> ExtractLimits:
        return cls(max_pages=settings.extract_max_pages, max_chars=settings.extract_max_chars,
                   max_unpacked_bytes=settings.extract_max_unpacked_bytes,
                   timeout_seconds=settings.extract_timeout_seconds, ocr_languages=settings.ocr_languages,
                   ocr_dpi=settings.ocr_dpi, ocr_max_pixels=settings.ocr_max_pixels)


ErrorCode = Literal["unsupported_type", "type_mismatch", "too_large", "empty", "corrupt", "encrypted",
                    "too_many_pages", "no_text_layer", "unpack_limit", "extract_timeout", "image_too_large",
                    "ocr_unavailable"]


_HTTP_STATUS = {"unsupported_type": 415, "type_mismatch": 415, "too_large": 413}


class ExtractionError(EneoError):
    """A problem with the document itself: retrying cannot help. `message` is for people and never quotes
    the document's content."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(code, message)
        self.args = (f"{code}: {message}",)
        self.code: ErrorCode = code

    @property
    def http_status(self) -> int:  # type: ignore[override]
        """413 or 415 for a file refused by its size or type, 422 for one whose content cannot be read."""
        return _HTTP_STATUS.get(self.code, 422)
