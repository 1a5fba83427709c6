"""What a document is, judged by its bytes.

The file name and the declared media type only tell text kinds apart (CSV, Markdown, HTML, plain)
and catch a mismatch: a `.pdf` whose bytes are a Word document is refused, naming both.
"""

from __future__ import annotations

import io
import re
import zipfile

from eneo.knowledge.extract.opendocument import odf_type
from eneo.knowledge.extract.text import decode, looks_like_text
from eneo.knowledge.extract.types import (
    ACCEPTED_LABELS,
    DocumentType,
    ExtractionError,
    by_extension,
    by_media_type,
)

_TEXT_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OLE_ENCRYPTED = "EncryptedPackage".encode("utf-16-le")
_HTML = re.compile(rb"<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]", re.IGNORECASE)
_MP4_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"mp41", b"mp42", b"isom", b"iso2", b"iso4", b"iso5",
                         b"iso6", b"dash", b"avc1", b"MSNV", b"3gp4", b"3gp5", b"3gp6"})
_OOXML_MAIN = ((b"wordprocessingml.document.main+xml", DocumentType.DOCX, "word/document.xml"),
               (b"spreadsheetml.sheet.main+xml", DocumentType.XLSX, "xl/workbook.xml"),
               (b"sheet.macroEnabled.main+xml", DocumentType.XLSX, "xl/workbook.xml"),  # .xlsm
               (b"presentationml.presentation.main+xml", DocumentType.PPTX, "ppt/presentation.xml"),
               (b"document.macroEnabled.main+xml", DocumentType.DOCX, "word/document.xml"),  # .docm
               (b"presentation.macroEnabled.main+xml", DocumentType.PPTX, "ppt/presentation.xml"),  # .pptm
               (b"presentationml.slideshow.main+xml", DocumentType.PPTX, "ppt/presentation.xml"),  # .ppsx
               (b"slideshow.macroEnabled.main+xml", DocumentType.PPTX, "ppt/presentation.xml"))  # .ppsm


def type_from_name(filename: str | None, declared_type: str | None = None) -> DocumentType | None:
    """The kind the name (or else the declared media type) claims, if it names an accepted one."""
    claims = _claims(filename, declared_type)
    return claims[0] if claims else None


def _claims(filename: str | None, declared_type: str | None) -> list[DocumentType]:
    """What the name claims, then what the declared media type claims (eneo.knowledge.extract.types' table)."""
    return [accepted.type for accepted in (by_extension(filename), by_media_type(declared_type)) if accepted]


def detect(data: bytes, filename: str | None, declared_type: str | None = None) -> DocumentType:
    """The document's type, from its content; raises `empty`, `unsupported_type`, `type_mismatch`."""
    if not data:
        raise ExtractionError("empty", "the file is empty")
    claims = _claims(filename, declared_type)
    found = _sniff_binary(data, claims)
    if found is None:
        if not looks_like_text(data):
            raise ExtractionError("unsupported_type", f"the file's content is not a supported type; accepted: "
                                                      f"{ACCEPTED_LABELS}")
        text_claims = [c for c in claims if c.accepted.family == "text"]
        if claims and not text_claims:
            raise _mismatch(claims[0], "plain text")
        if text_claims:
            return text_claims[0]
        return DocumentType.HTML if _HTML.search(data[:2048]) or _html_decoded(data) else DocumentType.TEXT
    for claim in claims:
        if claim.accepted.family != found.accepted.family:
            raise _mismatch(claim, found.label)
    return found


def _mismatch(claim: DocumentType, content: str) -> ExtractionError:
    return ExtractionError("type_mismatch", f"the file is named or declared as {claim.label}, but its content is "
                                            f"of type {content}")


def _html_decoded(data: bytes) -> bool:
    """UTF-16 HTML has NULs between the letters; look again after decoding."""
    return data[:2].startswith((b"\xff\xfe", b"\xfe\xff")) and bool(
        _HTML.search(decode(data[:4096]).encode("utf-8", "replace")))


def _sniff_binary(data: bytes, claims: list[DocumentType]) -> DocumentType | None:
    head = data[:64]
    if head.startswith(_TEXT_BOMS):  # FF FE also looks like an MP3 frame header
        return None
    if b"%PDF-" in data[:1024]:
        return DocumentType.PDF
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _sniff_zip(data, claims)
    if head.startswith(_OLE):
        if _OLE_ENCRYPTED in data:
            raise ExtractionError("encrypted", "the Office document is password-protected; remove the password "
                                               "and upload it again")
        raise ExtractionError("unsupported_type", "legacy Office files (.doc, .xls, .ppt) are not supported; save "
                                                  f"it as .docx, .xlsx or .pptx; accepted: {ACCEPTED_LABELS}")
    return _sniff_image(head) or _sniff_audio(head)


def _sniff_image(head: bytes) -> DocumentType | None:
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return DocumentType.PNG
    if head.startswith(b"\xff\xd8\xff"):
        return DocumentType.JPEG
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return DocumentType.TIFF
    return None


_ZIP_TYPES = (DocumentType.DOCX, DocumentType.XLSX, DocumentType.PPTX, DocumentType.ODT, DocumentType.ODS,
              DocumentType.ODP)


def _sniff_zip(data: bytes, claims: list[DocumentType]) -> DocumentType:
    zip_claims = [c for c in claims if c in _ZIP_TYPES]
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            opendocument = odf_type(archive)
            if opendocument is not None:
                return opendocument
            members = {m.filename: m for m in archive.infolist()}
            types = members.get("[Content_Types].xml")
            if types is not None:
                manifest = archive.read(types) if types.file_size <= 1024 * 1024 else b""
                for marker, kind, part in _OOXML_MAIN:
                    if marker in manifest or (not manifest and part in members):
                        return kind
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        if zip_claims:
            return zip_claims[0]  # a damaged Office file: extraction says `corrupt`
    raise ExtractionError("unsupported_type", "the file is a zip archive, not a Word, Excel, PowerPoint or "
                                              "OpenDocument document; "
                                              f"accepted: {ACCEPTED_LABELS}")


def _sniff_audio(head: bytes) -> DocumentType | None:
    if head.startswith(b"ID3") or _mp3_frame(head):
        return DocumentType.MP3
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return DocumentType.WAV
    if head.startswith(b"OggS"):
        return DocumentType.OGG
    if head.startswith(b"fLaC"):
        return DocumentType.FLAC
    if head[4:8] == b"ftyp" and head[8:12] in _MP4_BRANDS:
        return DocumentType.M4A
    if head.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in head:
        return DocumentType.WEBM
    return None


def _mp3_frame(head: bytes) -> bool:
    """An MPEG audio frame header: sync bits, then a valid version, layer, bitrate and sample rate."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate != 15 and rate != 3
