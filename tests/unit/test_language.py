"""The language detector that picks a document's full-text configuration (eneo.knowledge.language)."""

import pytest

from eneo.knowledge.language import detect_language, document_language, stated_language, ts_config

SWEDISH = ("Kommunens riktlinjer för hemtjänst gäller alla som bor i kommunen. Den som behöver hjälp med "
           "vardagen kan ansöka om bistånd hos biståndshandläggaren, och beslutet kan överklagas till "
           "förvaltningsrätten inom tre veckor från det att man fick del av det.")
ENGLISH = ("The municipality's guidelines for home care apply to everyone who lives in the municipality. "
           "Anyone who needs help with daily life can apply for assistance, and the decision can be "
           "appealed to the administrative court within three weeks of its being received.")


@pytest.mark.parametrize(("text", "language"), [
    (SWEDISH, "sv"),
    (ENGLISH, "en"),
    ("Antal;Belopp;Datum\n12;4500;2026-01-03\n17;3900;2026-02-11", "other"),  # a table: no running text
    ("Der Antrag ist bei der Gemeinde zu stellen, die über die Hilfe entscheidet und zuständig ist.", "other"),
    (SWEDISH + " " + ENGLISH, "other"),  # as much of each: no one language to stem in
    (SWEDISH * 3 + " " + ENGLISH, "sv"),  # an English summary does not make a Swedish report English
    ("", "other"),
])
def test_detects_swedish_english_or_neither(text: str, language: str) -> None:
    assert detect_language(text) == language


def test_swedish_is_stemmed_as_swedish_and_the_rest_is_simple() -> None:
    """English stays `simple`: Porter stemming made the fused ranking worse (eneo.knowledge.language)."""
    assert [ts_config(x) for x in ("sv", "en", "other", None, "fi")] == [
        "swedish", "simple", "simple", "simple", "simple"]


@pytest.mark.parametrize(("tag", "language"), [
    ("sv-SE", "sv"), ("SV", "sv"), ("en_US", "en"), ("en-GB", "en"), ("de-DE", "other"), ("", None), (None, None),
])
def test_a_files_language_tag_as_ours(tag: str | None, language: str | None) -> None:
    assert stated_language(tag) == language


def test_the_text_decides_and_a_stated_language_settles_what_it_cannot() -> None:
    table = "Antal;Belopp\n12;4500\n17;3900"
    assert document_language(table, "sv-SE") == "sv"  # too little text to tell: the file's tag
    assert document_language(table, None) == "other"
    assert document_language(ENGLISH, "sv-SE") == "en"  # a Swedish word processor's default on English text
