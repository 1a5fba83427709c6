"""OCR of scanned pages and images (Tesseract, Swedish and English), on pages rendered here (tests/scans.py):
what a scanned page says is found, Swedish letters included; a page with a text layer is never OCRed; the
document says which pages were; broken and oversized images fail with a precise code; the deadline holds.
The accuracy figure over degraded pages is bench/ocr_accuracy.py's."""

from __future__ import annotations

import io
import time

import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from eneo.knowledge.extract import DocumentType, ExtractionError, ExtractLimits, detect, extract
from eneo.knowledge.extract import ocr as ocr_module
from tests.fixtures.documents import make_fixtures as fx
from tests.scans import degrade, render_page, require_tesseract, to_bytes, to_pdf, word_accuracy

SWEDISH = ("Kommunstyrelsen beslutade den 14 mars att förlänga avtalet om snöröjning på Åkervägen och "
           "Östra Ängsgatan till och med år 2027.")
ENGLISH = "The harbour committee approved the new ferry timetable for the summer season."


@pytest.fixture(autouse=True)
def _tesseract(request: pytest.FixtureRequest) -> None:
    if not request.node.name.startswith("test_without_tesseract"):
        require_tesseract()


def _text_pdf(text: str) -> bytes:
    """A PDF page with a real text layer (as a word processor writes one)."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def _merge(*pdfs: bytes) -> bytes:
    writer = PdfWriter()
    for data in pdfs:
        for page in PdfReader(io.BytesIO(data)).pages:
            writer.add_page(page)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_a_scanned_pdf_page_is_read_with_its_swedish_letters() -> None:
    data = to_pdf([degrade(render_page([SWEDISH]))])
    assert detect(data, "protokoll.pdf", "application/pdf") is DocumentType.PDF
    extracted = extract(data, DocumentType.PDF)
    assert extracted.ocr_pages == (1,)
    assert extracted.sections[0].page == 1
    assert word_accuracy(SWEDISH, extracted.text) >= 0.9, extracted.text
    for word in ("förlänga", "snöröjning", "Åkervägen", "Ängsgatan"):
        assert word in extracted.text


def test_only_the_pages_without_a_text_layer_are_ocred() -> None:
    data = _merge(_text_pdf("Sidan ett har ett textlager: diarienummer KS 2024/118."),
                  to_pdf([render_page([ENGLISH])]), _text_pdf("Page three has a text layer too."))
    extracted = extract(data, DocumentType.PDF)
    assert extracted.ocr_pages == (2,)
    assert extracted.pages == 3
    by_page = {s.page: s.text for s in extracted.sections}
    assert "KS 2024/118" in by_page[1]
    assert word_accuracy(ENGLISH, by_page[2]) >= 0.9, by_page[2]
    assert "text layer too" in by_page[3]


def test_a_pdf_with_a_text_layer_never_starts_tesseract(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> str:
        raise AssertionError("OCR ran on a page with a text layer")

    monkeypatch.setattr("eneo.knowledge.extract.pdf.recognize", refuse)
    extracted = extract(fx.pdf_files()["riktlinjer.pdf"], DocumentType.PDF)
    assert extracted.ocr_pages == ()


@pytest.mark.parametrize(("fmt", "doc_type", "name"), [("PNG", DocumentType.PNG, "skanning.png"),
                                                        ("JPEG", DocumentType.JPEG, "foto.jpg"),
                                                        ("TIFF", DocumentType.TIFF, "arkiv.tif")])
def test_an_image_is_detected_and_read(fmt: str, doc_type: DocumentType, name: str) -> None:
    data = to_bytes(render_page([SWEDISH]), fmt)
    assert detect(data, name, None) is doc_type
    extracted = extract(data, doc_type)
    assert extracted.ocr_pages == (1,) and extracted.pages == 1
    assert word_accuracy(SWEDISH, extracted.text) >= 0.9, extracted.text


def test_each_frame_of_a_tiff_is_a_page() -> None:
    first, second = render_page([SWEDISH]), render_page([ENGLISH])
    data = to_bytes(first, "TIFF", save_all=True, append_images=[second], compression="tiff_lzw")
    extracted = extract(data, DocumentType.TIFF)
    assert extracted.pages == 2 and extracted.ocr_pages == (1, 2)
    assert [s.page for s in extracted.sections] == [1, 2]
    assert "ferry timetable" in extracted.sections[1].text


def test_an_image_with_too_many_frames_is_refused_before_ocr() -> None:
    blank = render_page(["x"], height=400)
    data = to_bytes(blank, "TIFF", save_all=True, append_images=[blank] * 4)
    with pytest.raises(ExtractionError) as caught:
        extract(data, DocumentType.TIFF, ExtractLimits(max_pages=3))
    assert caught.value.code == "too_many_pages"
    assert caught.value.message == "the image has 5 pages (frames); at most 3 are accepted"


def test_a_truncated_image_is_corrupt() -> None:
    data = to_bytes(render_page([SWEDISH]), "PNG")
    with pytest.raises(ExtractionError) as caught:
        extract(data[: len(data) // 2], DocumentType.PNG)
    assert caught.value.code == "corrupt"
    assert caught.value.message == ("the PNG image could not be read (damaged, cut short, or not a valid PNG image "
                                    "file)")


def test_an_image_with_a_garbage_body_is_corrupt() -> None:
    data = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    assert detect(data, "x.png", None) is DocumentType.PNG
    with pytest.raises(ExtractionError) as caught:
        extract(data, DocumentType.PNG)
    assert caught.value.code == "corrupt"


@pytest.mark.parametrize(("side", "message"), [
    (8_000, "the image is 8000 x 8000 pixels (64 million); at most 40 million are accepted"),
    # Past Pillow's own bomb limit (179 million) the header is refused as it is opened.
    (20_000, "the image has more than 40 million pixels, the most accepted")])
def test_an_image_of_too_many_pixels_is_refused_from_its_header_alone(side: int, message: str) -> None:
    """A PNG of one colour is small on disk and enormous in memory."""
    from PIL import Image

    data = to_bytes(Image.new("1", (side, side), 1), "PNG", optimize=True)
    assert len(data) < 200_000
    started = time.monotonic()
    with pytest.raises(ExtractionError) as caught:
        extract(data, DocumentType.PNG)
    assert time.monotonic() - started < 2
    assert caught.value.code == "image_too_large"
    assert caught.value.message == message


def test_a_blank_image_is_empty() -> None:
    data = to_bytes(render_page([""], height=600), "PNG")
    with pytest.raises(ExtractionError) as caught:
        extract(data, DocumentType.PNG)
    assert caught.value.code == "empty"
    assert caught.value.message == "OCR found no text in the PNG image"


def test_a_scan_with_nothing_to_read_says_so() -> None:
    with pytest.raises(ExtractionError) as caught:
        extract(fx.pdf_files()["scanned.pdf"], DocumentType.PDF)
    assert caught.value.code == "no_text_layer"
    assert caught.value.message == "the PDF has no text layer, and OCR found no text on its 1 page"


def test_ocr_stops_at_the_extraction_deadline() -> None:
    pages = [render_page([SWEDISH * 6, ENGLISH * 6])] * 6
    started = time.monotonic()
    with pytest.raises(ExtractionError) as caught:
        extract(to_pdf(pages), DocumentType.PDF, ExtractLimits(timeout_seconds=1.5))
    assert caught.value.code == "extract_timeout"
    assert time.monotonic() - started < 4


def test_without_tesseract_images_fail_ocr_unavailable_and_text_pages_are_kept(monkeypatch: pytest.MonkeyPatch
                                                                                ) -> None:
    monkeypatch.setenv(ocr_module.TESSERACT_ENV, "eneo-no-such-tesseract")
    with pytest.raises(ExtractionError) as caught:
        extract(to_bytes(render_page([SWEDISH], height=600), "PNG"), DocumentType.PNG)
    assert caught.value.code == "ocr_unavailable"
    with pytest.raises(ExtractionError) as caught:
        extract(to_pdf([render_page([SWEDISH], height=600)]), DocumentType.PDF)
    assert caught.value.code == "ocr_unavailable"
    mixed = _merge(_text_pdf("Diarienummer KS 2024/118."), to_pdf([render_page([SWEDISH], height=600)]))
    extracted = extract(mixed, DocumentType.PDF)
    assert "KS 2024/118" in extracted.text and extracted.ocr_pages == ()


def test_a_language_without_its_data_is_ocr_unavailable_naming_it() -> None:
    with pytest.raises(ExtractionError) as caught:
        extract(to_bytes(render_page([SWEDISH], height=600), "PNG"), DocumentType.PNG,
                ExtractLimits(ocr_languages="xyz"))
    assert caught.value.code == "ocr_unavailable"
    assert caught.value.message == ("OCR cannot read this document: the language data 'xyz' is not installed on "
                                    "this server; ask an administrator")
