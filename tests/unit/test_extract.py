"""Detection on content and extraction of every supported type from real files; hostile and broken files
fail with the right code, fast, and (zip bombs) without inflating anything."""

from __future__ import annotations

import io
import time
import tracemalloc
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from eneo.knowledge.extract import (
    ACCEPTED_TYPES,
    DocumentType,
    ExtractionError,
    ExtractLimits,
    accepted_types,
    detect,
    extract,
    is_audio,
    type_from_name,
)
from tests.fixtures.documents import make_fixtures as fx

DOCS = Path(fx.__file__).parent
DEFAULT = ExtractLimits()


def load(name: str) -> bytes:
    return (DOCS / name).read_bytes()


def flat(text: str) -> str:
    """Whitespace-insensitive: PDF lines wrap mid-sentence."""
    return " ".join(text.split())


@pytest.mark.parametrize(("name", "doc_type", "expected"), [
    ("riktlinjer.txt", DocumentType.TEXT, [fx.SENTENCE, fx.marker("text")]),
    ("riktlinjer-utf16.txt", DocumentType.TEXT, [fx.SENTENCE, fx.marker("UTF-16")]),
    ("riktlinjer-cp1252.txt", DocumentType.TEXT, [fx.SENTENCE, fx.marker("Windows-1252"), "250 € per år"]),
    ("riktlinjer.md", DocumentType.MARKDOWN, [fx.SENTENCE, fx.marker("Markdown")]),
    ("riktlinjer.csv", DocumentType.CSV, [fx.marker("CSV"),
                                          "Område | Prioritet | Ansvarig", "Busshållplatser | 2 | Kollektivtrafiken"]),
    ("riktlinjer.html", DocumentType.HTML, [fx.SENTENCE, fx.marker("HTML"), fx.TITLE]),
    ("riktlinjer.pdf", DocumentType.PDF, [fx.SENTENCE, fx.marker("PDF"), *fx.PDF_PAGES]),
    ("riktlinjer-owner-password.pdf", DocumentType.PDF, [fx.SENTENCE, fx.marker("PDF")]),
    ("riktlinjer.docx", DocumentType.DOCX, [fx.SENTENCE, fx.marker("Word"),
                                            "Område: Lokalgator; Prioritet: 3; Ansvarig: Entreprenör Nord"]),
    ("riktlinjer.xlsx", DocumentType.XLSX, [fx.SENTENCE, fx.marker("Excel"), "Område | Prioritet | Ansvarig",
                                            "Gång- och cykelvägar | 1 | Gatukontoret"]),
    ("riktlinjer.pptx", DocumentType.PPTX, [fx.SENTENCE, fx.marker("PowerPoint"), fx.BODY[1]]),
])
def test_each_type_is_detected_on_content_and_its_text_extracted(name: str, doc_type: DocumentType,
                                                                   expected: list[str]) -> None:
    data = load(name)
    assert detect(data, name, None) is doc_type
    # The content alone decides binary kinds: no name, no declared type.
    if doc_type.accepted.family != "text":
        assert detect(data, "", None) is doc_type
    extracted = extract(data, doc_type, DEFAULT)
    text = flat(extracted.text)
    for sentence in expected:
        assert sentence in text, sentence
    assert not extracted.truncated
    assert all(s.text.strip() for s in extracted.sections)


def test_html_keeps_only_visible_text() -> None:
    text = extract(load("riktlinjer.html"), DocumentType.HTML, DEFAULT).text
    assert fx.HTML_HIDDEN not in text
    assert "font-family" not in text and "console.log" not in text
    assert "Gång- och cykelvägar | 1 | Gatukontoret" in text


def test_pdf_has_a_section_per_page_with_its_number() -> None:
    extracted = extract(load("riktlinjer.pdf"), DocumentType.PDF, DEFAULT)
    assert extracted.pages == 3
    assert [s.page for s in extracted.sections] == [1, 2, 3]
    for number, sentence in enumerate(fx.PDF_PAGES, start=1):
        (section,) = [s for s in extracted.sections if sentence in flat(s.text)]
        assert section.page == number


def test_pptx_has_a_section_per_slide_with_the_notes() -> None:
    extracted = extract(load("riktlinjer.pptx"), DocumentType.PPTX, DEFAULT)
    assert extracted.pages == 2
    assert [s.page for s in extracted.sections] == [1, 2]
    assert fx.marker("PowerPoint") in extracted.sections[0].text  # from the speaker notes
    assert "Ansvarig: Kollektivtrafiken" in extracted.sections[1].text  # from the table


def test_pptx_charts_give_their_title_and_figures() -> None:
    """A slide's numbers often live only in a chart: its title and a line per series are the slide's text."""
    from pptx import Presentation
    from pptx.chart.data import CategoryChartData
    from pptx.enum.chart import XL_CHART_TYPE
    from pptx.util import Inches

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[6])  # blank: the chart is the slide's only text
    data = CategoryChartData()
    data.categories = ["januari", "februari", "mars"]
    data.add_series("Biblioteket", (1200, 1350.5, None))
    data.add_series("Simhallen", (800, 760, 910))
    chart = slide.shapes.add_chart(XL_CHART_TYPE.COLUMN_CLUSTERED, Inches(1), Inches(1), Inches(6), Inches(4),
                                   data).chart
    chart.has_title = True
    chart.chart_title.text_frame.text = "Besökare per månad"
    out = io.BytesIO()
    deck.save(out)

    (section,) = extract(out.getvalue(), DocumentType.PPTX, DEFAULT).sections
    assert section.page == 1
    assert section.text.splitlines() == ["Besökare per månad", "Biblioteket: januari 1200; februari 1350.5",
                                          "Simhallen: januari 800; februari 760; mars 910"]


def test_xlsx_has_a_section_per_sheet_named_after_it() -> None:
    extracted = extract(load("riktlinjer.xlsx"), DocumentType.XLSX, DEFAULT)
    assert [s.title for s in extracted.sections] == ["Prioritering", "Anteckningar"]
    assert extracted.sections[0].text.startswith("Prioritering\nOmråde | Prioritet | Ansvarig\n")
    # A table: each chunk of it repeats the sheet's name and its column names (eneo.knowledge.chunking).
    assert extracted.sections[0].table and extracted.sections[0].header == "Prioritering\nOmråde | Prioritet | Ansvarig"
    assert fx.marker("Excel") in extracted.sections[1].text


def test_audio_is_detected_but_not_extracted() -> None:
    data = load("riktlinjer.wav")
    assert detect(data, "inspelning.wav", "audio/wav") is DocumentType.WAV
    assert is_audio(DocumentType.WAV) and not is_audio(DocumentType.PDF)
    assert DocumentType.WAV.extension == ".wav"
    with pytest.raises(ValueError, match="transcribed"):
        extract(data, DocumentType.WAV, DEFAULT)


@pytest.mark.parametrize(("head", "doc_type"), [
    (b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(54), DocumentType.MP3),
    (b"\xff\xfb\x90\x64" + bytes(60), DocumentType.MP3),  # MPEG-1 layer III frame, 128 kbit/s, 44.1 kHz
    (b"OggS\x00\x02" + bytes(58), DocumentType.OGG),
    (b"fLaC\x00\x00\x00\x22" + bytes(56), DocumentType.FLAC),
    (b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00" + bytes(48), DocumentType.M4A),
    (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm" + bytes(48), DocumentType.WEBM),
])
def test_audio_formats_are_told_by_their_signatures(head: bytes, doc_type: DocumentType) -> None:
    assert detect(head, "ljud", None) is doc_type
    assert is_audio(doc_type)


def test_one_audio_format_named_as_another_is_the_format_of_its_content() -> None:
    # Transcription APIs read the format from the file name: the caller names it by `doc_type.extension`.
    assert detect(load("riktlinjer.wav"), "inspelning.mp3", "audio/mpeg") is DocumentType.WAV


@pytest.mark.parametrize(("name", "declared", "doc_type"), [
    ("tabell.csv", None, DocumentType.CSV),
    ("tabell", "text/csv; charset=utf-8", DocumentType.CSV),
    ("anteckningar.md", None, DocumentType.MARKDOWN),
    ("sida.htm", None, DocumentType.HTML),
    ("", None, DocumentType.TEXT),
    ("data.bin", "application/octet-stream", DocumentType.TEXT),
])
def test_text_kinds_are_told_apart_by_name_or_declared_type(name: str, declared: str | None,
                                                            doc_type: DocumentType) -> None:
    assert detect("Område;Prioritet\nGator;1\n".encode(), name, declared) is doc_type


def test_html_without_a_name_is_recognised_by_its_markup() -> None:
    assert detect(load("riktlinjer.html"), "", None) is DocumentType.HTML
    assert detect(b"  <html><body><p>Hej</p></body></html>", "sida", None) is DocumentType.HTML


def test_a_web_page_with_a_few_stray_nuls_is_still_html() -> None:
    """Real pages carry the odd NUL (one of trafilatura's 999 evaluation pages has 22 in 190 KB); UTF-16
    without a byte-order mark has one in every other byte and is not text to us."""
    paragraph = "<p>Sophämtning sker varannan vecka i hela kommunen.</p>\n"
    page = ("<!-- tema -->\n<html><body>" + paragraph * 400).encode() + b"\x00" * 22 + (
        paragraph * 400 + "</body></html>").encode()
    assert detect(page, "", None) is DocumentType.HTML
    text = extract(page, DocumentType.HTML, DEFAULT).text
    assert "\x00" not in text and text.count("Sophämtning") == 800
    with pytest.raises(ExtractionError) as caught:
        detect("Sophämtning sker varannan vecka.".encode("utf-16-le"), "", None)
    assert caught.value.code == "unsupported_type"


@pytest.mark.parametrize(("name", "code", "words"), [
    ("docx-named.pdf", "type_mismatch", ["PDF", "Word"]),
    ("empty.txt", "empty", ["empty"]),
    ("random.bin", "unsupported_type", ["PDF", "DOCX", "MP3"]),
])
def test_refused_at_detection(name: str, code: str, words: list[str]) -> None:
    with pytest.raises(ExtractionError) as caught:
        detect(load(name), name, None)
    assert caught.value.code == code
    for word in words:
        assert word in caught.value.message


@pytest.mark.parametrize(("data", "name", "declared", "words"), [
    (b"%PDF-1.7\n...", "riktlinjer.txt", "text/plain", ["plain text", "PDF"]),
    (b"Kommunens riktlinjer", "riktlinjer.pdf", None, ["PDF", "plain text"]),
    (b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(52), "riktlinjer.docx", None, ["Word", "WAV"]),
])
def test_content_that_contradicts_the_name_is_a_mismatch(data: bytes, name: str, declared: str | None,
                                                        words: list[str]) -> None:
    with pytest.raises(ExtractionError) as caught:
        detect(data, name, declared)
    assert caught.value.code == "type_mismatch"
    for word in words:
        assert word in caught.value.message


def test_declared_type_that_contradicts_the_content_is_a_mismatch() -> None:
    with pytest.raises(ExtractionError) as caught:
        detect(load("riktlinjer.docx"), "riktlinjer", "application/pdf")
    assert caught.value.code == "type_mismatch"


def test_legacy_and_password_protected_office_files() -> None:
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    with pytest.raises(ExtractionError) as caught:
        detect(ole + b"WordDocument", "gammal.doc", None)
    assert caught.value.code == "unsupported_type" and ".docx" in caught.value.message
    with pytest.raises(ExtractionError) as caught:
        detect(ole + "EncryptedPackage".encode("utf-16-le"), "skyddad.docx", None)
    assert caught.value.code == "encrypted"


def test_a_plain_zip_is_not_an_office_document() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hej")
    with pytest.raises(ExtractionError) as caught:
        detect(out.getvalue(), "arkiv.zip", None)
    assert caught.value.code == "unsupported_type"


def _fails(data: bytes, doc_type: DocumentType, limits: ExtractLimits = DEFAULT) -> tuple[ExtractionError, float]:
    started = time.monotonic()
    with pytest.raises(ExtractionError) as caught:
        extract(data, doc_type, limits)
    return caught.value, time.monotonic() - started


@pytest.mark.parametrize(("name", "doc_type", "code"), [
    ("truncated.pdf", DocumentType.PDF, "corrupt"),
    ("encrypted.pdf", DocumentType.PDF, "encrypted"),
    ("zip-bomb.docx", DocumentType.DOCX, "unpack_limit"),
    ("zip-bomb-ratio.docx", DocumentType.DOCX, "unpack_limit"),
])
def test_malformed_files_fail_with_their_reason_in_bounded_time(name: str, doc_type: DocumentType,
                                                                code: str) -> None:
    data = load(name)
    assert detect(data, name, None) is doc_type
    error, seconds = _fails(data, doc_type)
    assert error.code == code
    assert seconds < 5


@pytest.mark.parametrize("name", ["zip-bomb.docx", "zip-bomb-ratio.docx"])
def test_zip_bombs_fail_before_anything_is_inflated(name: str) -> None:
    data = load(name)
    declared = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(data)).infolist())
    assert declared >= 20 * 1024 * 1024 and len(data) < 50 * 1024
    # A limit above the bomb's size: only the compression ratio can catch it.
    for limits in (DEFAULT, ExtractLimits(max_unpacked_bytes=2 * declared)):
        tracemalloc.start()
        try:
            error, seconds = _fails(data, DocumentType.DOCX, limits)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert error.code == "unpack_limit"
        assert peak < 5 * 1024 * 1024, f"{peak} bytes allocated: the bomb was inflated"
        assert seconds < 1


@pytest.fixture(scope="module")
def ten_thousand_pages(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real 10,000-page PDF (about 3 MB: too big to commit, made here by fpdf2)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for number in range(10_000):
        pdf.add_page()
        if number % 1000 == 0:
            pdf.cell(0, 10, f"Sida {number + 1}")
    path = tmp_path_factory.mktemp("pdf") / "tiotusen.pdf"
    path.write_bytes(bytes(pdf.output()))
    return path.read_bytes()


def test_ten_thousand_pages_are_refused_before_reading_them(ten_thousand_pages: bytes) -> None:
    error, seconds = _fails(ten_thousand_pages, DocumentType.PDF)
    assert error.code == "too_many_pages"
    assert "10000" in error.message and str(DEFAULT.max_pages) in error.message
    assert seconds < 5


def test_a_page_count_that_lies_is_caught_while_reading(ten_thousand_pages: bytes) -> None:
    # Same length, so the cross-reference offsets stay valid.
    lying = ten_thousand_pages.replace(b"/Count 10000", b"/Count 1    ", 1)
    assert lying != ten_thousand_pages
    error, seconds = _fails(lying, DocumentType.PDF, ExtractLimits(max_pages=50))
    assert error.code == "too_many_pages"
    assert seconds < 5


def _pdf_with_objects(objects: list[bytes]) -> bytes:
    """A PDF made by hand, with a correct cross-reference table; object 1 is the catalog."""
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def test_a_page_tree_that_loops_is_corrupt_not_endless() -> None:
    data = _pdf_with_objects([b"<< /Type /Catalog /Pages 2 0 R >>",
                              b"<< /Type /Pages /Kids [3 0 R 2 0 R] /Count 1 >>",  # 2 is its own child
                              b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"])
    error, seconds = _fails(data, DocumentType.PDF)
    assert error.code == "corrupt" and "page tree" in error.message
    assert seconds < 5


def test_pages_multiplied_by_a_shared_subtree_are_caught_before_pypdf_flattens_them() -> None:
    # 100 references to one node of 100 references to one page: 10,000 pages in a few hundred bytes.
    data = _pdf_with_objects([b"<< /Type /Catalog /Pages 2 0 R >>",
                              b"<< /Type /Pages /Kids [" + b"3 0 R " * 100 + b"] /Count 3 >>",
                              b"<< /Type /Pages /Parent 2 0 R /Kids [" + b"4 0 R " * 100 + b"] /Count 100 >>",
                              b"<< /Type /Page /Parent 3 0 R /MediaBox [0 0 612 792] >>"])
    error, seconds = _fails(data, DocumentType.PDF, ExtractLimits(max_pages=500))
    assert error.code == "corrupt" and "page tree" in error.message
    assert seconds < 5


@pytest.mark.parametrize("name", ["riktlinjer.pdf", "riktlinjer.docx", "riktlinjer.xlsx", "riktlinjer.pptx",
                                  "riktlinjer.html", "riktlinjer.csv", "riktlinjer.txt"])
def test_deadline_stops_extraction(name: str) -> None:
    data = load(name)
    with pytest.raises(ExtractionError) as caught:
        extract(data, detect(data, name, None), ExtractLimits(timeout_seconds=1e-9))
    assert caught.value.code == "extract_timeout"


def test_long_text_is_truncated_at_max_chars_and_says_so() -> None:
    data = (fx.SENTENCE + "\n").encode() * 5000
    extracted = extract(data, DocumentType.TEXT, ExtractLimits(max_chars=10_000))
    assert extracted.truncated
    assert 9_000 < len(extracted.text) <= 10_000
    assert extracted.text.startswith(fx.SENTENCE)


def test_truncation_applies_across_pages() -> None:
    first_page = extract(load("riktlinjer.pdf"), DocumentType.PDF, DEFAULT).sections[0].text
    limit = len(first_page) + 30
    extracted = extract(load("riktlinjer.pdf"), DocumentType.PDF, ExtractLimits(max_chars=limit))
    assert extracted.truncated
    assert [s.page for s in extracted.sections] == [1, 2]  # stopped on page 2; page 3 never read
    assert extracted.sections[0].text == first_page
    assert sum(len(s.text) for s in extracted.sections) == limit


@pytest.mark.parametrize("data", [b"   \n\t \r\n", "\ufeff  \n".encode()])
def test_whitespace_only_text_is_empty(data: bytes) -> None:
    with pytest.raises(ExtractionError) as caught:
        extract(data, detect(data, "tom.txt", None), DEFAULT)
    assert caught.value.code == "empty"


def test_a_docx_without_text_is_empty() -> None:
    from docx import Document

    out = io.BytesIO()
    Document().save(out)
    with pytest.raises(ExtractionError) as caught:
        extract(out.getvalue(), DocumentType.DOCX, DEFAULT)
    assert caught.value.code == "empty"


def test_a_damaged_docx_is_corrupt_and_the_message_quotes_nothing_from_it() -> None:
    out = io.BytesIO()
    secret = "HEMLIGT_INNEHÅLL_I_DOKUMENTET"
    with zipfile.ZipFile(out, "w") as archive, zipfile.ZipFile(io.BytesIO(load("riktlinjer.docx"))) as original:
        for item in original.infolist():
            data = original.read(item)
            if item.filename == "word/document.xml":
                data = f"<w:document><w:body><w:p>{secret}</w:body>".encode()  # broken XML
            archive.writestr(item, data)
    with pytest.raises(ExtractionError) as caught:
        extract(out.getvalue(), detect(out.getvalue(), "trasig.docx", None), DEFAULT)
    assert caught.value.code == "corrupt"
    assert secret not in str(caught.value)


@pytest.mark.parametrize("name", ["riktlinjer.docx", "riktlinjer.xlsx", "riktlinjer.pptx", "riktlinjer.pdf"])
def test_a_file_cut_short_is_corrupt(name: str) -> None:
    # No longer a readable zip: the name says which Office type, extraction says corrupt.
    data = load(name)
    cut = data[: len(data) // 2]
    doc_type = detect(data, name, None)
    assert detect(cut, name, None) is doc_type
    error, seconds = _fails(cut, doc_type)
    assert error.code == "corrupt" and seconds < 5


def test_a_presentation_over_the_page_limit_is_refused() -> None:
    error, _ = _fails(load("riktlinjer.pptx"), DocumentType.PPTX, ExtractLimits(max_pages=1))
    assert error.code == "too_many_pages" and "2 slides" in error.message


def test_utf8_with_a_damaged_byte_stays_utf8() -> None:
    data = fx.SENTENCE.encode() + b" \xff " + "Röjning på gång- och cykelvägar.".encode()
    text = extract(data, detect(data, "skadad.txt", None), DEFAULT).text
    assert fx.SENTENCE in text and "Röjning på gång-" in text


def test_a_csv_the_csv_module_refuses_is_read_as_text() -> None:
    data = ("Rubrik;Text\n1;" + "å" * 200_000 + "\n").encode()  # a field over the csv module's limit
    text = extract(data, detect(data, "lång.csv", None), DEFAULT).text
    assert text.startswith("Rubrik;Text") and len(text) > 200_000


def test_text_never_carries_nul_or_lone_surrogates() -> None:
    extracted = extract("Rad ett\x01\x02 och\x7f två\n".encode(), DocumentType.TEXT, DEFAULT)
    assert extracted.text == "Rad ett och två\n"


def test_accepted_types_state_each_kinds_size_limit() -> None:
    settings = SimpleNamespace(upload_max_bytes=50_000_000, audio_max_bytes=25_000_000)
    listed = {entry["type"]: entry for entry in accepted_types(settings)}
    assert set(listed) == {t.value for t in DocumentType}
    assert listed["pdf"]["max_bytes"] == 50_000_000 and listed["pdf"]["media_type"] == "application/pdf"
    assert listed["mp3"]["max_bytes"] == 25_000_000 and ".mp3" in listed["mp3"]["extensions"]
    assert ".docx" in listed["docx"]["extensions"]
    assert {a.type for a in ACCEPTED_TYPES} == set(DocumentType)


def test_type_from_name_picks_the_limit_before_the_bytes_arrive() -> None:
    assert type_from_name("Möte 2026-01-15.MP3", None) is DocumentType.MP3
    assert type_from_name("utan-ändelse", "application/pdf") is DocumentType.PDF
    assert type_from_name("okänd.xyz", "application/octet-stream") is None


def test_limits_from_settings() -> None:
    settings = SimpleNamespace(extract_max_pages=7, extract_max_chars=1234, extract_max_unpacked_bytes=99,
                               extract_timeout_seconds=1.5, ocr_languages="swe", ocr_dpi=200,
                               ocr_max_pixels=2_000_000)
    assert ExtractLimits.from_settings(settings) == ExtractLimits(7, 1234, 99, 1.5, "swe", 200, 2_000_000)


# --- the document's own title ------------------------------------------------------------------------


def _pdf_titled(title: str) -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(load("riktlinjer.pdf"))))
    writer.add_metadata({"/Title": title})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _docx_titled(title: str) -> bytes:
    from docx import Document

    document = Document(io.BytesIO(load("riktlinjer.docx")))
    document.core_properties.title = title
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@pytest.mark.parametrize(("data", "doc_type", "title"), [
    (b"Intro line\n\n#   Riktlinjer f\xc3\xb6r vinterv\xc3\xa4gh\xc3\xa5llning  #\n\nText.\n## Del 1\n",
     DocumentType.MARKDOWN, "Riktlinjer för vinterväghållning"),
    (b"```\n# not a title, code\n```\n# The real title\ntext\n", DocumentType.MARKDOWN, "The real title"),
    (b"## Only a second-level heading\ntext\n", DocumentType.MARKDOWN, None),
    (b"# A heading in a .txt file is just text\n", DocumentType.TEXT, None),
    (_pdf_titled("Vinterväghållning 2026"), DocumentType.PDF, "Vinterväghållning 2026"),
    (_pdf_titled("Microsoft Word - riktlinjer.docx"), DocumentType.PDF, None),  # a converter's placeholder
    (load("riktlinjer.pdf"), DocumentType.PDF, None),
    (_docx_titled("  Riktlinjer  för snöröjning "), DocumentType.DOCX, "Riktlinjer för snöröjning"),
    (_docx_titled("Untitled"), DocumentType.DOCX, None),
    (load("riktlinjer.docx"), DocumentType.DOCX, None),
])
def test_a_documents_own_title_is_found_in_its_heading_or_properties(data: bytes, doc_type: DocumentType,
                                                                    title: str | None) -> None:
    """Citations name a document by its title: a Markdown `# Title`, a PDF's or a DOCX's title property;
    none (and the file name stays) when it has no title or only a placeholder."""
    extracted = extract(data, doc_type, DEFAULT)
    assert extracted.title == title
    assert extracted.text  # the text is extracted as before


def test_the_language_a_pdf_or_docx_states_is_read() -> None:
    """A tagged PDF's /Lang and a DOCX's language property: what settles a document whose text is too
    short or too tabular to tell its language (eneo.knowledge.language.document_language)."""
    from docx import Document
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject, TextStringObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(load("riktlinjer.pdf"))))
    writer._root_object[NameObject("/Lang")] = TextStringObject("sv-SE")
    pdf = io.BytesIO()
    writer.write(pdf)
    document = Document(io.BytesIO(load("riktlinjer.docx")))
    document.core_properties.language = "en-GB"
    docx = io.BytesIO()
    document.save(docx)
    assert extract(pdf.getvalue(), DocumentType.PDF, DEFAULT).language == "sv-SE"
    assert extract(docx.getvalue(), DocumentType.DOCX, DEFAULT).language == "en-GB"
    assert extract(load("riktlinjer.pdf"), DocumentType.PDF, DEFAULT).language is None


# --- DOCX margins and footnotes, XLSM ---------------------------------------------------------------------

_FOOTNOTES_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<w:footnotes xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>'
    '<w:footnote w:id="1"><w:p><w:r><w:t xml:space="preserve">Enligt </w:t></w:r>'
    '<w:r><w:t>beslut KF 2025-11-03 § 88.</w:t></w:r></w:p></w:footnote>'
    '</w:footnotes>').encode()


def _with_footnotes(docx: bytes) -> bytes:
    """The DOCX with a footnotes part (python-docx cannot write one): the part, its relationship, its type."""
    source = zipfile.ZipFile(io.BytesIO(docx))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", b'<Override PartName="/word/footnotes.xml" ContentType="application/'
                                    b'vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"/></Types>')
            elif item.filename == "word/_rels/document.xml.rels":
                data = data.replace(b"</Relationships>", b'<Relationship Id="rIdFn1" Type="http://schemas.'
                                    b'openxmlformats.org/officeDocument/2006/relationships/footnotes" '
                                    b'Target="footnotes.xml"/></Relationships>')
            target.writestr(item, data)
        target.writestr("word/footnotes.xml", _FOOTNOTES_XML)
    return out.getvalue()


def test_docx_headers_footers_and_footnotes_are_text_too() -> None:
    """Reference numbers and dates live in a letter's header and footer, sources in its footnotes."""
    from docx import Document

    document = Document(io.BytesIO(load("riktlinjer.docx")))
    section = document.sections[0]
    section.header.paragraphs[0].text = "Dnr KS 2026/118"
    section.footer.paragraphs[0].text = "Norrviks kommun · Gatukontoret · 2026-02-01"
    out = io.BytesIO()
    document.save(out)

    text = flat(extract(_with_footnotes(out.getvalue()), DocumentType.DOCX, DEFAULT).text)
    assert text.startswith("Dnr KS 2026/118")
    assert fx.SENTENCE in text
    assert "Norrviks kommun · Gatukontoret · 2026-02-01" in text
    assert text.endswith("Enligt beslut KF 2025-11-03 § 88.")
    assert text.count("Dnr KS 2026/118") == 1  # one header, not one per section variant


def _as_xlsm(xlsx: bytes) -> bytes:
    """The workbook as Excel saves it with macros: the macro-enabled main part type and a VBA project."""
    source = zipfile.ZipFile(io.BytesIO(xlsx))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "[Content_Types].xml":
                data = data.replace(b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                                    b"application/vnd.ms-excel.sheet.macroEnabled.main+xml")
                data = data.replace(b"</Types>", b'<Default Extension="bin" '
                                    b'ContentType="application/vnd.ms-office.vbaProject"/></Types>')
            target.writestr(item, data)
        target.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504)
    return out.getvalue()


def test_an_xlsm_is_read_as_a_workbook_and_its_macros_ignored() -> None:
    data = _as_xlsm(load("riktlinjer.xlsx"))
    assert b"macroEnabled.main+xml" in zipfile.ZipFile(io.BytesIO(data)).read("[Content_Types].xml")
    for declared in ("application/vnd.ms-excel.sheet.macroEnabled.12", None):
        assert detect(data, "budget.xlsm", declared) == DocumentType.XLSX
    assert type_from_name("budget.xlsm") == DocumentType.XLSX
    text = extract(data, DocumentType.XLSX, DEFAULT).text
    assert "Gång- och cykelvägar | 1 | Gatukontoret" in text
    assert any(".xlsm" in a["extensions"] for a in accepted_types(SimpleNamespace(
        upload_max_bytes=1, audio_max_bytes=1)))
