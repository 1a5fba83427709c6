"""Spreadsheets Excel opens but the readers refused or choked on, from calamine's tests
(tests/fixtures/documents/calamine/README.md), and the same repairs on files made here."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook

from eneo.knowledge.extract import DocumentType, ExtractLimits, detect, extract
from eneo.knowledge.extract.ooxml_repair import ooxml_repaired

FILES = Path(__file__).resolve().parents[1] / "fixtures" / "documents" / "calamine"
QUICK = ExtractLimits(timeout_seconds=15)  # the old reader ran past 60 s on the whole-sheet dimension

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:openpyxl")  # it warns of styles it drops


def read(name: str) -> str:
    return extract((FILES / name).read_bytes(), DocumentType.XLSX, QUICK).text


def test_strict_open_xml_is_read() -> None:
    text = read("strict_iso_paths.xlsx")
    assert text.startswith("ml_out\nItem | Thickness | Number Off Bends")
    assert "150-031260-001_B | 1.5 | 7 | 4 | 5 | 2 | 78.46" in text


def test_a_part_named_in_another_case_is_found() -> None:
    assert read("issue_419.xlsx") == "Sheet1\nHello"  # xl/SharedStrings.xml, named sharedStrings.xml


def test_windows_path_separators_are_read() -> None:
    text = read("issue_530.xlsx")
    assert "报表导出人\uff1a | 于国栋" in text and "考勤周期 | 2023-03-01-2023-03-31" in text


def test_a_sheet_stating_all_of_its_size_is_read_by_its_cells() -> None:
    text = read("issue_174.xlsx")
    assert text.endswith("123 | Test Contact Name | Test Contact Number | Hello Address | My City | 1.5 | 1 | "
                         "1.201 | Nothing SPL | No Remarks | My Company?")


def workbook_bytes() -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = "Taxor"
    sheet.append(["Avgift", "Belopp"])
    sheet.append(["Bygglov", 12500])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def rewritten(data: bytes, name: object = None, content: object = None) -> bytes:
    """The archive with each member's name and content passed through the given functions."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for member in source.infolist():
            body = source.read(member)
            target.writestr(name(member.filename) if callable(name) else member.filename,
                            content(body) if callable(content) else body)
    return out.getvalue()


def test_made_strict_and_made_windows_style_read_as_the_original() -> None:
    original = workbook_bytes()
    strict = rewritten(original, content=lambda b: re.sub(rb"http://schemas\.openxmlformats\.org/([A-Za-z]+)/2006/",
                                                          rb"http://purl.oclc.org/ooxml/\1/", b))
    windows = rewritten(original, name=lambda n: n.replace("/", "\\"))
    expected = extract(original, DocumentType.XLSX).text
    assert expected == "Taxor\nAvgift | Belopp\nBygglov | 12500"
    assert extract(strict, DocumentType.XLSX).text == expected
    assert extract(windows, DocumentType.XLSX).text == expected


def test_an_ordinary_file_is_not_copied() -> None:
    data = workbook_bytes()
    assert ooxml_repaired(data) is data


OOXML = b"application/vnd.openxmlformats-officedocument."


def content_type_variant(data: bytes, plain: bytes, variant: bytes) -> bytes:
    return rewritten(data, content=lambda b: b.replace(plain, variant))


@pytest.mark.parametrize(("fixture", "name", "plain", "variant", "kind"), [
    ("riktlinjer.docx", "mall.docm", OOXML + b"wordprocessingml.document.main+xml",
     b"application/vnd.ms-word.document.macroEnabled.main+xml", DocumentType.DOCX),
    ("riktlinjer.pptx", "visning.ppsx", OOXML + b"presentationml.presentation.main+xml",
     OOXML + b"presentationml.slideshow.main+xml", DocumentType.PPTX),
    ("riktlinjer.pptx", "makro.pptm", OOXML + b"presentationml.presentation.main+xml",
     b"application/vnd.ms-powerpoint.presentation.macroEnabled.main+xml", DocumentType.PPTX),
])
def test_macro_enabled_and_slideshow_variants_read_as_the_plain_file(fixture: str, name: str, plain: bytes,
                                                                     variant: bytes, kind: DocumentType) -> None:
    """python-docx refused a .docm and python-pptx a .ppsx by their main part's content type."""
    original = (FILES.parent / fixture).read_bytes()
    assert plain in zipfile.ZipFile(io.BytesIO(original)).read("[Content_Types].xml")
    data = content_type_variant(original, plain, variant)
    assert detect(data, name) is kind
    assert extract(data, kind).text == extract(original, kind).text
