"""Scanned pages made here: text -> image (Pillow) -> PDF without a text layer, as a scanner makes them.

Used by the OCR tests (tests/unit/test_ocr.py, tests/e2e/test_knowledge.py) and measured by
bench/ocr_accuracy.py. A "scan" may be degraded the way real ones are: a slight skew, sensor noise, JPEG
compression. Word-level accuracy (`word_accuracy`) is 1 - the word error rate: the edit distance between
the words written and the words read, over the words written.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import subprocess
from collections.abc import Sequence

import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

DPI = 300
PAGE_WIDTH = int(8.27 * DPI)  # A4
PAGE_HEIGHT = int(11.69 * DPI)
MARGIN = int(0.9 * DPI)
# Debian's DejaVu Sans (fonts-dejavu-core) when it is there; else Pillow's own scalable font (both have å ä ö).
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def font(points: float) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    size = round(points * DPI / 72)
    if os.path.exists(DEJAVU):
        return ImageFont.truetype(DEJAVU, size)
    return ImageFont.load_default(size=size)


def _wrap(draw: ImageDraw.ImageDraw, paragraph: str, face: ImageFont.FreeTypeFont | ImageFont.ImageFont,
          width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in paragraph.split():
        candidate = f"{line} {word}".strip()
        if line and draw.textlength(candidate, font=face) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines


def render_page(paragraphs: Sequence[str], *, points: float = 12, height: int | None = None) -> Image.Image:
    """A white page (A4 width at 300 dpi) with the paragraphs in black, wrapped to the margins."""
    face = font(points)
    line_height = round(points * DPI / 72 * 1.45)
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    lines: list[str] = []
    for paragraph in paragraphs:
        lines.extend(_wrap(probe, paragraph, face, PAGE_WIDTH - 2 * MARGIN))
        lines.append("")
    page_height = height or max(PAGE_HEIGHT if len(lines) > 30 else 2 * MARGIN + line_height * len(lines),
                                line_height * len(lines) + 2 * MARGIN)
    page = Image.new("L", (PAGE_WIDTH, page_height), 255)
    draw = ImageDraw.Draw(page)
    y = MARGIN
    for line in lines:
        if line:
            draw.text((MARGIN, y), line, font=face, fill=0)
        y += line_height
    return page


def degrade(page: Image.Image, *, skew_degrees: float = 0.6, specks: float = 0.0005, blur: float = 0.6,
            jpeg_quality: int = 60, seed: int = 7) -> Image.Image:
    """What a scanner and its compression do to a page: a slight rotation, a softer edge, dust (a share
    `specks` of the pixels turned dark), JPEG."""
    rng = random.Random(seed)
    page = page.rotate(skew_degrees, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=255)
    page = page.filter(ImageFilter.GaussianBlur(blur))
    draw = ImageDraw.Draw(page)
    for _ in range(int(page.width * page.height * specks)):
        draw.point((rng.randrange(page.width), rng.randrange(page.height)), fill=rng.randrange(0, 90))
    buffer = io.BytesIO()
    page.save(buffer, "JPEG", quality=jpeg_quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("L")


def to_pdf(pages: Sequence[Image.Image], resolution: int = DPI) -> bytes:
    """The pages as a PDF of images only (no text layer), at `resolution` dpi."""
    buffer = io.BytesIO()
    pages[0].save(buffer, "PDF", resolution=resolution, save_all=True, append_images=list(pages[1:]))
    return buffer.getvalue()


def to_bytes(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def words(text: str) -> list[str]:
    """Words as a reader compares them: case and the punctuation around them ignored."""
    return [w for w in (w.strip(".,;:!?()\"'«»”“\u2013-").lower() for w in text.split()) if w]


def word_accuracy(expected: str, read: str) -> float:
    """1 - word error rate (substitutions, deletions and insertions over the expected words), at least 0."""
    ref, hyp = words(expected), words(read)
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        current = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return max(0.0, 1 - previous[-1] / max(len(ref), 1))


def _missing() -> str | None:
    """What of Tesseract with Swedish and English data is not installed, or None."""
    missing = None
    command = shutil.which("tesseract")
    if command is None:
        missing = "tesseract"
    else:
        listed = subprocess.run([command, "--list-langs"], capture_output=True, text=True, check=False)  # noqa: S603
        langs = listed.stdout
        found = {line.strip() for line in langs.splitlines()[1:]}
        absent = {"swe", "eng"} - found
        if absent:
            missing = "Tesseract's " + " and ".join(sorted(absent)) + " data"
    return missing


def ocr_ready() -> bool:
    return _missing() is None


def require_tesseract() -> None:
    """Skip a test that needs Tesseract with Swedish and English data where it is not installed, and say how;
    under CI=true (.ci/run, where `make install` installs it) fail instead."""
    missing = _missing()
    if missing is None:
        return
    reason = (f"OCR tests need {missing}: `make install` as root installs it, or apt-get install tesseract-ocr "
              "tesseract-ocr-swe tesseract-ocr-eng")
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)
