"""OpenDocument (ODT, ODS, ODP): real files saved by LibreOffice and OpenOffice (from odfpy's examples, see
tests/fixtures/documents/opendocument/README.md) read like their OOXML counterparts; files written here
test what those do not hold: repeated rows, notes, comments, tracked deletions, encryption, entities."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from eneo.knowledge.extract import DocumentType, ExtractionError, ExtractLimits, detect, extract

FILES = Path(__file__).resolve().parents[1] / "fixtures" / "documents" / "opendocument"
NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
      'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
      'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
      'xmlns:dc="http://purl.org/dc/elements/1.1/"')


def odf(kind: str, body: str, *, encrypted: bool = False, meta: str = "", doctype: str = "") -> bytes:
    """An OpenDocument file of `kind` (text, spreadsheet, presentation) whose body is `body`, zipped as
    LibreOffice does (the `mimetype` part first, stored)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", f"application/vnd.oasis.opendocument.{kind}", zipfile.ZIP_STORED)
        archive.writestr("content.xml", f'<?xml version="1.0"?>{doctype}<office:document-content {NS}>'
                                        f"<office:body><office:{kind}>{body}</office:{kind}></office:body>"
                                        "</office:document-content>", zipfile.ZIP_DEFLATED)
        archive.writestr("meta.xml", f'<?xml version="1.0"?><office:document-meta {NS}><office:meta>{meta}'
                                     "</office:meta></office:document-meta>")
        encryption = "<manifest:encryption-data/>" if encrypted else ""
        archive.writestr("META-INF/manifest.xml", '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:'
                                                  'opendocument:xmlns:manifest:1.0"><manifest:file-entry '
                                                  f'manifest:full-path="content.xml">{encryption}'
                                                  "</manifest:file-entry></manifest:manifest>")
    return out.getvalue()


def read(data: bytes, name: str) -> str:
    return extract(data, detect(data, name)).text


def test_libreoffice_text_has_its_header_body_and_footer_in_order() -> None:
    text = read((FILES / "headerfooter.odt").read_bytes(), "headerfooter.odt")
    assert text.index("Header") < text.index("Lorem ipsum") < text.index("Footer")


def test_a_text_table_names_its_columns_like_a_docx_table() -> None:
    text = read((FILES / "simpletable.odt").read_bytes(), "simpletable.odt")
    assert "Cell 1: Cell 3 (bold); Cell 2: Cell 4 (italic)" in text


def test_a_spreadsheet_has_a_table_section_per_sheet() -> None:
    extracted = extract((FILES / "countrystatistics.ods").read_bytes(), DocumentType.ODS)
    assert extracted.pages == 2
    assert [s.title for s in extracted.sections] == ["Population", "HDI"]
    population = extracted.sections[0]
    assert population.table
    assert population.header == "Population\nCountry | Population in millions | Area km2 | Pop. density People/km2"
    assert "Sweden | 9.1 | 449964 | 20" in population.text  # the cells' office:value, 9.1 and 449964


def test_a_presentation_has_a_section_per_slide() -> None:
    extracted = extract((FILES / "cols.odp").read_bytes(), DocumentType.ODP)
    assert extracted.pages == 1 and [s.page for s in extracted.sections] == [1]
    assert "Lorem ipsum dolor sit amet" in extracted.sections[0].text


def test_detected_by_content_and_a_wrong_name_is_refused() -> None:
    data = (FILES / "simpletable.odt").read_bytes()
    assert detect(data, "utan-namn", "application/octet-stream") is DocumentType.ODT
    with pytest.raises(ExtractionError) as refused:
        detect(data, "rapport.docx")
    assert refused.value.code == "type_mismatch"


def test_notes_follow_the_body_and_comments_and_deletions_are_left_out() -> None:
    body = ("<text:h>Beslut</text:h>"
            "<text:tracked-changes><text:changed-region><text:deletion><text:p>struken mening"
            "</text:p></text:deletion></text:changed-region></text:tracked-changes>"
            "<text:p>Nämnden<text:s text:c='3'/>beslutar<text:note><text:note-citation>1</text:note-citation>"
            "<text:note-body><text:p>Enligt KS 2026/114.</text:p></text:note-body></text:note> att bifalla."
            "<office:annotation><text:p>intern kommentar</text:p></office:annotation></text:p>"
            "<text:list><text:list-item><text:p>punkt ett</text:p></text:list-item></text:list>")
    text = read(odf("text", body), "beslut.odt")
    assert text == "Beslut\n\nNämnden   beslutar att bifalla.\n\npunkt ett\n\nEnligt KS 2026/114."


def test_repeated_rows_and_cells_expand_only_where_they_hold_text() -> None:
    """A sheet's million empty rows are one element: reading it must not build a million rows."""
    row = ("<table:table-row table:number-rows-repeated='2'><table:table-cell office:value-type='string'>"
           "<text:p>Avgift</text:p></table:table-cell><table:table-cell office:value-type='float' "
           "office:value='1234.5'><text:p>1 234,50 kr</text:p></table:table-cell><table:table-cell "
           "office:value-type='date' office:date-value='2026-03-01T00:00:00'><text:p>1 mars</text:p>"
           "</table:table-cell><table:table-cell table:number-columns-repeated='16380'/></table:table-row>")
    empty = "<table:table-row table:number-rows-repeated='1048570'><table:table-cell/></table:table-row>"
    sheet = f"<table:table table:name='Taxor'>{row}{empty}</table:table>"
    extracted = extract(odf("spreadsheet", sheet), DocumentType.ODS)
    assert extracted.text == "Taxor\nAvgift | 1234.5 | 2026-03-01\nAvgift | 1234.5 | 2026-03-01"


def test_a_password_protected_file_says_so() -> None:
    with pytest.raises(ExtractionError) as refused:
        extract(odf("text", "<text:p>hemligt</text:p>", encrypted=True), DocumentType.ODT)
    assert refused.value.code == "encrypted"


def test_entities_are_not_resolved() -> None:
    """An entity naming a local file must not bring the file's content into the document (XXE)."""
    doctype = '<!DOCTYPE office:document-content [<!ENTITY secret SYSTEM "file:///etc/hostname">]>'
    data = odf("text", "<text:p>före &secret; efter</text:p>", doctype=doctype)
    hostname = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").exists() else "\0"
    text = read(data, "xxe.odt")
    assert "före" in text and hostname not in text


def test_title_and_language_come_from_the_metadata() -> None:
    meta = "<dc:title>Taxor 2026</dc:title><dc:language>sv-SE</dc:language>"
    extracted = extract(odf("text", "<text:p>Avgifter för bygglov.</text:p>", meta=meta), DocumentType.ODT)
    assert (extracted.title, extracted.language) == ("Taxor 2026", "sv-SE")


def test_a_slide_count_over_the_limit_is_refused() -> None:
    slides = "".join(f"<draw:page xmlns:draw='urn:oasis:names:tc:opendocument:xmlns:drawing:1.0'>"
                     f"<draw:frame><draw:text-box><text:p>bild {n}</text:p></draw:text-box></draw:frame>"
                     "</draw:page>" for n in range(4))
    with pytest.raises(ExtractionError) as refused:
        extract(odf("presentation", slides), DocumentType.ODP, ExtractLimits(max_pages=3))
    assert refused.value.code == "too_many_pages"
    assert [s.page for s in extract(odf("presentation", slides), DocumentType.ODP).sections] == [1, 2, 3, 4]
