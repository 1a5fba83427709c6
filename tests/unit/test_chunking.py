"""Token chunking: sizes within the limit, overlap between neighbours, the whole text covered, cuts at
sentence or paragraph ends, original case and accents kept, pages carried."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from eneo.knowledge.chunking import SECTION_SEPARATOR, ChunkText, chunk, count_tokens, tokenizer
from eneo.knowledge.extract import DocumentType, Section, extract
from tests.fixtures.documents import make_fixtures as fx

SIZE, OVERLAP = 60, 12


def sentences(count: int, start: int = 1) -> list[str]:
    """Sentences of about 36 tokens (Swedish splits into many word pieces), each ending "förvaltningen." """
    return [f"Mening {n}: Kommunen röjer snö i område {n} före sju, och Ärendet följs upp av förvaltningen."
            for n in range(start, start + count)]


def long_text() -> str:
    paragraphs = [" ".join(sentences(4, start)) for start in range(1, 80, 4)]
    return "\n\n".join(paragraphs)


def spans(text: str, chunks: list[ChunkText]) -> list[tuple[int, int]]:
    """Where each chunk sits in `text` (chunks are slices of it, in order)."""
    found, position = [], 0
    for piece in chunks:
        start = text.find(piece.text, position)
        assert start >= 0, "a chunk is not a slice of the original text"
        found.append((start, start + len(piece.text)))
        position = start + 1
    return found


def test_the_tokenizer_is_loaded_once_without_truncation_or_padding() -> None:
    assert tokenizer() is tokenizer()
    assert tokenizer().truncation is None and tokenizer().padding is None
    assert count_tokens(long_text()) > 1000
    assert count_tokens("") == 0


def test_chunks_stay_within_the_size_and_count_their_tokens() -> None:
    chunks = chunk([Section(long_text())], SIZE, OVERLAP)
    assert len(chunks) > 10
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for piece in chunks:
        assert 0 < piece.token_count <= SIZE
        # Counted without [CLS]/[SEP]; the slice re-tokenizes to the same count.
        assert count_tokens(piece.text) == piece.token_count
        assert piece.text.strip() == piece.text and piece.text


def test_consecutive_chunks_overlap_within_a_paragraph_and_together_cover_the_text() -> None:
    text = long_text()
    chunks = chunk([Section(text)], SIZE, OVERLAP)
    places = spans(text, chunks)
    paragraph_cuts = 0
    for (_, end), (next_start, _) in itertools.pairwise(places):
        if text[end:next_start].count("\n") >= 2:  # cut at a paragraph's end: the next paragraph follows
            paragraph_cuts += 1
            continue
        assert next_start < end, "no overlap between neighbouring chunks of one paragraph"
        overlap = count_tokens(text[next_start:end])
        assert 1 <= overlap <= OVERLAP
        assert "\n\n" not in text[next_start:end], "the overlap reaches back into an earlier paragraph"
    assert 0 < paragraph_cuts < len(places) - 1, "the text has both kinds of cut"
    covered = [False] * len(text)
    for start, end in places:
        covered[start:end] = [True] * (end - start)
    assert all(covered[i] for i, ch in enumerate(text) if not ch.isspace())


def test_a_chunk_never_begins_with_the_tail_of_an_earlier_paragraph() -> None:
    """A Markdown or text file is one section; its paragraphs are kept apart as sections are: through the
    API, chunks that began with the previous paragraph's last words cost dense search 6 points of R@1."""
    paragraphs = [" ".join(sentences(2, start)) for start in range(1, 40, 2)]  # ~72 tokens each
    text = "\n\n".join(paragraphs)
    bounds = [(text.index(p), text.index(p) + len(p)) for p in paragraphs]
    places = spans(text, chunk([Section(text)], 100, 30))
    for (_, end), (next_start, _) in itertools.pairwise(places):
        p_start, p_end = next(b for b in reversed(bounds) if b[0] <= next_start)
        if next_start > p_start:  # it begins inside a paragraph: the chunk before was cut inside it too
            assert end < p_end, f"begins with the tail of a paragraph: {text[next_start:next_start + 60]!r}"
    assert any(start == b[0] for start, _ in places[1:] for b in bounds), "some chunks start a paragraph"


def test_without_overlap_chunks_follow_each_other() -> None:
    text = long_text()
    chunks = chunk([Section(text)], SIZE, 0)
    places = spans(text, chunks)
    for (_, end), (next_start, _) in itertools.pairwise(places):
        assert next_start >= end and not text[end:next_start].strip()
    assert sum(c.token_count for c in chunks) == count_tokens(text)


def test_cuts_fall_at_sentence_ends_and_keep_case_and_accents() -> None:
    chunks = chunk([Section(long_text())], SIZE, OVERLAP)
    for piece in chunks:
        assert piece.text.endswith("förvaltningen."), piece.text[-40:]
    joined = " ".join(c.text for c in chunks)
    assert "Ärendet" in joined and "Kommunen röjer snö i område 7 före sju" in joined


def test_paragraph_ends_are_preferred_to_sentence_ends() -> None:
    # Paragraphs of 2 sentences (~72 tokens): a 100-token window holds one and a sentence of the next.
    paragraphs = [" ".join(sentences(2, n)) for n in range(1, 40, 2)]
    text = "\n\n".join(paragraphs)
    chunks = chunk([Section(text)], 100, 0)
    assert [piece.text for piece in chunks] == paragraphs


def test_the_default_sizes_fit_the_model() -> None:
    chunks = chunk([Section(long_text())], 200, 40)
    assert max(c.token_count for c in chunks) <= 200
    assert max(count_tokens(c.text) for c in chunks) + 2 <= 256  # with [CLS]/[SEP]: within all-MiniLM's input


def test_a_text_without_spaces_is_still_cut_within_the_limit() -> None:
    text = "-".join(f"del{n}" for n in range(2000))
    chunks = chunk([Section(text)], SIZE, OVERLAP)
    assert all(c.token_count <= SIZE for c in chunks)
    assert chunks[0].text.startswith("del0-") and chunks[-1].text.endswith("del1999")


@pytest.mark.parametrize("sections", [[], [Section("")], [Section("  \n\n\t "), Section("\n", page=2)]])
def test_no_text_gives_no_chunks(sections: list[Section]) -> None:
    assert chunk(sections, SIZE, OVERLAP) == []


def test_a_short_text_is_one_chunk() -> None:
    (only,) = chunk([Section(f"  {fx.SENTENCE}\n")], SIZE, OVERLAP)
    assert only.text == fx.SENTENCE and only.index == 0 and only.page is None
    assert only.token_count == count_tokens(fx.SENTENCE)


def test_a_chunk_carries_the_page_where_it_starts() -> None:
    pages = [Section(" ".join(sentences(6, 10 * page)), page=page) for page in (1, 2, 3)]
    text = SECTION_SEPARATOR.join(s.text for s in pages)
    chunks = chunk(pages, SIZE, OVERLAP)
    starts = [text.index(s.text) for s in pages]
    for piece, (start, _) in zip(chunks, spans(text, chunks), strict=True):
        expected = max(number for number, page_start in zip((1, 2, 3), starts, strict=True) if page_start <= start)
        assert piece.page == expected
    assert {c.page for c in chunks} == {1, 2, 3}


def test_overlap_does_not_reach_back_into_the_previous_page() -> None:
    pages = [Section(" ".join(sentences(5, 10 * page)), page=page) for page in (1, 2)]
    chunks = chunk(pages, SIZE, OVERLAP)
    on_two = [c for c in chunks if c.page == 2]
    assert on_two and on_two[0].text.startswith("Mening 20:")
    assert all("Mening 1" not in c.text for c in on_two)


def test_pdf_pages_reach_the_chunks() -> None:
    data = (Path(fx.__file__).parent / "riktlinjer.pdf").read_bytes()
    chunks = chunk(extract(data, DocumentType.PDF).sections, 40, 8)
    for number, sentence in enumerate(fx.PDF_PAGES, start=1):
        first = next(c for c in chunks if sentence in " ".join(c.text.split()))
        assert first.page == number


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_sizes_are_checked(size: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk([Section("text")], size, overlap)


# --- tables: groups of whole rows, each after the header ---------------------------------------------------

LEDGER_HEADER = "Verifikation | Datum | Leverantör | Belopp (kr) | Konto"


def ledger_csv(rows: int) -> bytes:
    lines = ["Verifikation;Datum;Leverantör;Belopp (kr);Konto"]
    lines += [f"LF{240000 + n};2024-03-{n % 28 + 1:02d};Ramirent AB;{1000 + n * 37},50;{4010 + n % 7}"
              for n in range(rows)]
    return "\n".join(lines).encode()


def test_a_csv_is_chunked_as_groups_of_whole_rows_each_after_its_header() -> None:
    rows = 300
    extracted = extract(ledger_csv(rows), DocumentType.CSV)
    chunks = chunk(extracted.sections, SIZE * 3, OVERLAP)
    seen: list[str] = []
    for c in chunks:
        first, *body = c.text.split("\n")
        assert first == LEDGER_HEADER  # every chunk says what its columns are
        assert body and all(line.startswith("LF") and line.count(" | ") == 4 for line in body)  # whole rows
        assert c.token_count == count_tokens(c.text) <= SIZE * 3
        seen += body
    # Every row once, in order: no overlap between groups, nothing lost.
    assert [line.split(" | ")[0] for line in seen] == [f"LF{240000 + n}" for n in range(rows)]
    # The numbers are there as the file wrote them (what full-text search matches).
    assert "LF240123 | 2024-03-12 | Ramirent AB | 5551,50 | 4014" in seen
    # Groups fill their chunks: only the last may be short.
    assert all(c.token_count > SIZE * 3 - 30 for c in chunks[:-1])


def test_a_table_without_a_header_is_grouped_by_rows_without_one() -> None:
    data = "\n".join(f"{n};{n * 3};{n * 7}" for n in range(1, 200)).encode()
    chunks = chunk(extract(data, DocumentType.CSV).sections, SIZE, OVERLAP)
    assert chunks[0].text.startswith("1 | 3 | 7\n2 | 6 | 14")
    lines = [line for c in chunks for line in c.text.split("\n")]
    assert lines == [f"{n} | {n * 3} | {n * 7}" for n in range(1, 200)]


def test_a_row_longer_than_a_chunk_is_cut_and_each_piece_keeps_the_header() -> None:
    long_cell = " ".join(sentences(6))
    data = f"Ärende;Beskrivning\nKS 2024/1;kort\nKS 2024/2;{long_cell}\nKS 2024/3;kort".encode()
    chunks = chunk(extract(data, DocumentType.CSV).sections, SIZE, OVERLAP)
    assert all(c.text.startswith("Ärende | Beskrivning\n") and c.token_count <= SIZE for c in chunks)
    assert chunks[0].text == "Ärende | Beskrivning\nKS 2024/1 | kort"
    assert chunks[-1].text == "Ärende | Beskrivning\nKS 2024/3 | kort"
    assert len(chunks) > 3 and "förvaltningen" in chunks[2].text


def test_sheets_are_tables_between_running_text_and_indexes_run_on() -> None:
    sections = [Section(" ".join(sentences(3)), page=1),
                Section("Budget\nKonto | Belopp\n4010 | 120\n4020 | 99", table=True, header="Budget\nKonto | Belopp"),
                Section("Slutord efter tabellen.", page=2)]
    chunks = chunk(sections, SIZE, OVERLAP)
    assert [c.index for c in chunks] == list(range(len(chunks)))
    table = [c for c in chunks if c.text.startswith("Budget\n")]
    assert [c.text for c in table] == ["Budget\nKonto | Belopp\n4010 | 120\n4020 | 99"]
    assert chunks[-1].text == "Slutord efter tabellen." and chunks[-1].page == 2
    assert not any("Budget" in c.text for c in chunks if c not in table)  # no window runs into the table


def test_a_header_too_long_to_repeat_is_not_repeated() -> None:
    header = " | ".join(f"Kolumn med långt namn {n}" for n in range(12))
    rows = "\n".join(" | ".join(str(n * k) for k in range(12)) for n in range(40))
    chunks = chunk([Section(f"{header}\n{rows}", table=True, header=header)], SIZE, OVERLAP)
    assert chunks[0].text.startswith("Kolumn med långt namn 0")
    assert sum(c.text.count("Kolumn med långt namn 0") for c in chunks) == 1
    assert all(c.token_count <= SIZE for c in chunks)
