"""OCR: the text of images (PNG, JPEG, TIFF) and of PDF pages that have no text layer, by Tesseract.

Tesseract runs as a child process (Debian's `tesseract` with `tesseract-ocr-swe`/`-eng`; on AWS the
OcrLayer's `/opt/bin/tesseract`, layers/ocr/README.md), fed one page at a time as a greyscale PGM on
stdin. A child process can be killed at the extraction's deadline, which a thread cannot: a page costs at
most the time left. OMP_THREAD_LIMIT=1, because Tesseract's OpenMP threads spin on busy shared cores and
are then slower than one (the Tesseract FAQ says the same for parallel runs). The uploaded bytes never
reach Tesseract's own image readers (Leptonica): Pillow decodes them, within the checks below, and
Tesseract gets the plain pixels.

Images are checked from their header before any pixel is decoded: more than `ocr_max_pixels` is
`image_too_large` (a 100,000 x 100,000 PNG is a few kilobytes and 10 GB of pixels), more frames than
`max_pages` is `too_many_pages`; a file Pillow cannot decode is `corrupt`.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING

from eneo.knowledge.extract.budget import Collector
from eneo.knowledge.extract.types import DocumentType, Extracted, ExtractionError, ExtractLimits

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger("eneo.knowledge.extract")

TESSERACT_ENV = "ENEO_TESSERACT"  # the command, when it is not `tesseract` on PATH
_NOT_INSTALLED = ("OCR is not available on this server (Tesseract is not installed), so scanned pages and "
                  "images cannot be read; ask an administrator")
# pdfium is not thread-safe; ingest extracts in a worker thread, so renders take turns.
_PDFIUM = threading.Lock()


@lru_cache(maxsize=4)
def _command(name: str) -> str | None:
    return shutil.which(name)


def tesseract_command() -> str | None:
    """The Tesseract executable, or None where it is not installed."""
    return _command(os.environ.get(TESSERACT_ENV, "tesseract"))


def ocr_available() -> bool:
    return tesseract_command() is not None


def recognize(image: Image, collector: Collector) -> str:
    """The text Tesseract reads in `image` (one page), within the extraction's remaining time."""
    command = tesseract_command()
    if command is None:
        raise ExtractionError("ocr_unavailable", _NOT_INSTALLED)
    buffer = io.BytesIO()
    image.save(buffer, "PPM")  # greyscale: PGM; no compression to spend time on
    remaining = collector.remaining_seconds()
    if remaining <= 0:
        collector.tick()
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    try:
        # The executable is the deployment's; the languages a validated setting (Settings.ocr_languages).
        arguments = [command, "stdin", "stdout", "-l", collector.limits.ocr_languages, "--psm", "3"]
        done = subprocess.run(arguments, input=buffer.getvalue(), capture_output=True,  # noqa: S603
                              timeout=max(remaining, 0.1), env=env, check=False)
    except subprocess.TimeoutExpired:  # killed at the deadline
        raise ExtractionError("extract_timeout", f"extraction took longer than "
                                                 f"{collector.limits.timeout_seconds:g} s and was stopped") from None
    if done.returncode != 0:
        error = done.stderr.decode("utf-8", "replace")
        # stderr names files and languages, never the page's text; only its first line is logged.
        first_line = (error.strip().splitlines() or [""])[0][:200]
        log.warning("tesseract failed", extra={"returncode": done.returncode, "error": first_line})
        if "load" in error.lower() and "language" in error.lower():
            raise ExtractionError("ocr_unavailable", f"OCR cannot read this document: the language data "
                                                     f"{collector.limits.ocr_languages!r} is not installed on this "
                                                     "server; ask an administrator")
        raise ExtractionError("corrupt", "OCR could not read an image of the document (damaged?)")
    return done.stdout.decode("utf-8", "replace")


def prepare(image: Image) -> Image:
    """Upright, greyscale, transparency on white: what Tesseract reads best."""
    from PIL import Image as PILImage
    from PIL import ImageOps

    image = ImageOps.exif_transpose(image) or image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = PILImage.alpha_composite(background, rgba)
    return image.convert("L")


def _check_pixels(width: int, height: int, limits: ExtractLimits) -> None:
    if width * height > limits.ocr_max_pixels:
        raise ExtractionError("image_too_large", f"the image is {width} x {height} pixels "
                                                 f"({width * height / 1e6:.0f} million); at most "
                                                 f"{limits.ocr_max_pixels / 1e6:.0f} million are accepted")


def _frames(data: bytes, doc_type: DocumentType, limits: ExtractLimits) -> Iterator[Image]:
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        image = PILImage.open(io.BytesIO(data))
    except PILImage.DecompressionBombError:
        raise ExtractionError("image_too_large", f"the image has more than {limits.ocr_max_pixels / 1e6:.0f} "
                                                 "million pixels, the most accepted") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise _corrupt(doc_type) from exc
    frames = int(getattr(image, "n_frames", 1) or 1)
    if frames > limits.max_pages:
        raise ExtractionError("too_many_pages", f"the image has {frames} pages (frames); at most "
                                                f"{limits.max_pages} are accepted")
    for index in range(frames):
        try:
            image.seek(index)
            _check_pixels(*image.size, limits)
            image.load()
        except ExtractionError:
            raise
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise _corrupt(doc_type) from exc
        yield image


def _corrupt(doc_type: DocumentType) -> ExtractionError:
    return ExtractionError("corrupt", f"the {doc_type.label} could not be read (damaged, cut short, or not a "
                                      f"valid {doc_type.label} file)")


def extract_image(data: bytes, doc_type: DocumentType, limits: ExtractLimits) -> Extracted:
    """Each frame is a page (a TIFF may hold many); every page is OCRed."""
    if not ocr_available():
        raise ExtractionError("ocr_unavailable", _NOT_INSTALLED)
    collector = Collector(limits)
    pages = 0
    for number, frame in enumerate(_frames(data, doc_type, limits), start=1):
        pages = number
        collector.begin(page=number)
        if not collector.add(recognize(prepare(frame), collector)):
            break
    if not collector.has_text():
        raise ExtractionError("empty", f"OCR found no text in the {doc_type.label}")
    return Extracted(collector.sections(), pages, collector.truncated, ocr_pages=tuple(range(1, pages + 1)))


class PdfPages:
    """Renders pages of one PDF (pdfium) for OCR, at `ocr_dpi` or less so a page stays within
    `ocr_max_pixels`. Opened on the first page that needs it: a PDF with a text layer never loads pdfium."""

    def __init__(self, data: bytes, limits: ExtractLimits) -> None:
        self._data, self._limits = data, limits
        self._document: object | None = None

    def render(self, number: int) -> Image:
        import pypdfium2 as pdfium

        with _PDFIUM:
            if self._document is None:
                self._document = pdfium.PdfDocument(self._data)
            document = self._document
            assert isinstance(document, pdfium.PdfDocument)
            page = document[number - 1]
            try:
                width, height = page.get_size()  # points (1/72 inch)
                scale = self._limits.ocr_dpi / 72
                pixels = width * height * scale * scale
                if pixels > self._limits.ocr_max_pixels:
                    scale *= (self._limits.ocr_max_pixels / pixels) ** 0.5
                return page.render(scale=scale, grayscale=True).to_pil()
            finally:
                page.close()

    def close(self) -> None:
        with _PDFIUM:
            if self._document is not None:
                self._document.close()  # type: ignore[attr-defined]
                self._document = None
