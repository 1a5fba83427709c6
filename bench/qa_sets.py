"""The public QA sets of bench/data (SQuAD English and Swedish subsets), stored as our ingestion would.

Each article is one document: its paragraphs are the sections, cut by eneo.knowledge.chunking with the
default 200/40 tokens, embedded with the local embedder, stored as one collection. A question's gold is
the sentence holding its answer: a hit is a returned chunk that contains that whole sentence (or, for a
sentence longer than the overlap that no chunk holds whole, a chunk holding the answer itself).
Vectors are cached under ~/.cache/eneo/retrieval-eval (keyed by the texts), so a second run embeds nothing.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
CACHE = Path.home() / ".cache" / "eneo" / "retrieval-eval"
SETS = ("squad-en", "squad-en2", "squad-sv")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'“(\[]?[A-ZÅÄÖÉ0-9])")


@dataclass(frozen=True)
class QAQuestion:
    id: str
    q: str
    doc: str
    gold: frozenset[int]  # indexes into the set's chunk list
    kind: str = "squad"


@dataclass
class QASet:
    name: str
    titles: dict[str, str]
    chunks: list[tuple[str, int, str]]  # (doc, chunk_index, text)
    questions: list[QAQuestion]
    fallbacks: int = 0  # questions whose gold is the answer span (the sentence is in no chunk whole)
    chunk_ids: list[uuid.UUID] = field(default_factory=list)


def _sentence(paragraph: str, at: int) -> tuple[int, int]:
    """The span of the sentence of `paragraph` holding position `at`."""
    start = 0
    for m in _SENTENCE_END.finditer(paragraph):
        if m.start() > at:
            return start, m.start()
        start = m.end()
    return start, len(paragraph)


def sentence_at(paragraph: str, at: int) -> str:
    """The sentence of `paragraph` holding position `at` (a question's gold sentence)."""
    start, end = _sentence(paragraph, at)
    return paragraph[start:end]


def load(name: str, size_tokens: int = 200, overlap_tokens: int = 40) -> QASet:
    from eneo.knowledge.chunking import SECTION_SEPARATOR, chunk
    from eneo.knowledge.extract.types import Section

    raw: dict[str, Any] = json.loads((DATA / f"{name.replace('-', '_')}.json").read_text())
    qa = QASet(name, {d["id"]: d["title"] for d in raw["documents"]}, [], [])
    spans: dict[str, list[tuple[int, int, int]]] = {}  # doc -> (start, end, set index) of its chunks
    paragraph_at: dict[tuple[str, int], int] = {}
    for doc in raw["documents"]:
        text, offset = "", 0
        for p, paragraph in enumerate(doc["paragraphs"]):
            if p:
                offset += len(SECTION_SEPARATOR)
            paragraph_at[(doc["id"], p)] = offset
            offset += len(paragraph)
        text = SECTION_SEPARATOR.join(doc["paragraphs"])
        at = 0
        for piece in chunk([Section(p) for p in doc["paragraphs"]], size_tokens, overlap_tokens):
            start = text.index(piece.text, at)  # chunks are slices of the joined text, in order
            at = start + 1
            spans.setdefault(doc["id"], []).append((start, start + len(piece.text), len(qa.chunks)))
            qa.chunks.append((doc["id"], piece.index, piece.text))
    paragraphs = {(d["id"], p): t for d in raw["documents"] for p, t in enumerate(d["paragraphs"])}
    for q in raw["questions"]:
        base = paragraph_at[(q["doc"], q["paragraph"])]
        s, e = _sentence(paragraphs[(q["doc"], q["paragraph"])], q["answer_start"])
        gold = frozenset(i for cs, ce, i in spans[q["doc"]] if cs <= base + s and base + e <= ce)
        if not gold:
            a, b = base + q["answer_start"], base + q["answer_start"] + len(q["answer"])
            gold = frozenset(i for cs, ce, i in spans[q["doc"]] if cs <= a and b <= ce)
            qa.fallbacks += 1
        qa.questions.append(QAQuestion(q["id"], q["question"], q["doc"], gold))
    return qa


def load_wikiqa(path: Path, size_tokens: int = 200, overlap_tokens: int = 40, heading: bool = False) -> QASet:
    """WikiQA's test split (WikiQA-test.tsv, Yang, Yih and Meek 2015) as a set: each Wikipedia summary
    paragraph one document of its sentences, each question with a correct sentence one question (243).

    A hit is a chunk holding a correct sentence whole. The file is not in bench/data: Microsoft's licence
    for WikiQA does not let us pass it on, so it is read from where the user saved it.
    """
    from eneo.knowledge.chunking import chunk
    from eneo.knowledge.extract.types import Section

    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    sentences: dict[str, dict[str, str]] = {}  # doc -> sentence id -> sentence (a doc repeats per question)
    titles: dict[str, str] = {}
    correct: dict[str, tuple[str, str, set[str]]] = {}  # question id -> (question, doc, correct sentences)
    for r in rows:
        sentences.setdefault(r["DocumentID"], {}).setdefault(r["SentenceID"], r["Sentence"].strip())
        titles[r["DocumentID"]] = r["DocumentTitle"]
        if r["Label"] == "1":
            correct.setdefault(r["QuestionID"], (r["Question"], r["DocumentID"], set()))[2].add(r["Sentence"].strip())
    qa = QASet("wikiqa-md" if heading else "wikiqa", titles, [], [])
    for doc, parts in sentences.items():
        body = " ".join(parts.values())
        text = f"# {titles[doc]}\n\n{body}" if heading else body  # heading: as a Markdown upload reads it
        for piece in chunk([Section(text)], size_tokens, overlap_tokens):
            qa.chunks.append((doc, piece.index, piece.text))
    for qid, (question, doc, gold_sentences) in correct.items():
        gold = frozenset(i for i, (d, _, text) in enumerate(qa.chunks)
                         if d == doc and any(s in text for s in gold_sentences))
        qa.questions.append(QAQuestion(qid, question, doc, gold, kind="wikiqa"))
    return qa


def load_named(name: str, wikiqa: Path | None = None) -> QASet:
    """A set by its name: one of SETS, or `wikiqa` / `wikiqa-md` (each paragraph after a `# <title>` line,
    as the outside check uploaded them) read from the file `wikiqa` (the scripts' --wikiqa)."""
    if name in ("wikiqa", "wikiqa-md"):
        if wikiqa is None:
            raise ValueError(f"the set {name} needs its file: --wikiqa WikiQA-test.tsv")
        return load_wikiqa(wikiqa, heading=name == "wikiqa-md")
    return load(name)


async def embed_cached(embed: Any, texts: list[str], model_name: str) -> list[list[float]]:
    """The texts' vectors, from the cache when this exact list was embedded before."""
    key = hashlib.sha256(json.dumps([model_name, texts]).encode()).hexdigest()[:32]
    path = CACHE / f"{key}.json"
    if path.exists():
        vectors: list[list[float]] = json.loads(path.read_text())
        return vectors
    vectors = await embed(texts)
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(vectors))
    return vectors


async def store(session: AsyncSession, tenant_id: uuid.UUID, qa: QASet, vectors: list[list[float]]
                ) -> tuple[uuid.UUID, uuid.UUID]:
    """The set as one collection of the tenant; returns (group id, model id) and fills qa.chunk_ids."""
    from tests.fixtures.corpus.seed import add_document, create_group, create_space, local_model

    space_id = await create_space(session, tenant_id, name=qa.name)
    model_id = await local_model(session, tenant_id)
    group_id = await create_group(session, tenant_id, space_id, model_id, name=qa.name)
    ids: list[uuid.UUID] = []
    for doc, title in qa.titles.items():
        at = [i for i, c in enumerate(qa.chunks) if c[0] == doc]
        _, chunk_ids = await add_document(session, tenant_id=tenant_id, group_id=group_id, model_id=model_id,
                                          title=title, passages=[qa.chunks[i][2] for i in at],
                                          vectors=[vectors[i] for i in at])
        ids.extend(chunk_ids)
    qa.chunk_ids = ids
    return group_id, model_id
