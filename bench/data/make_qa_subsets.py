"""Remake the evaluation subsets in this folder from the SQuAD files they come from (see README.md).

    python bench/data/make_qa_subsets.py EN_DEV_V2_JSON SV_DEV_V2_JSON [EN_DEV_V1_1_JSON]

EN: every paragraph of the 16 articles of the English dev file (the retrieval corpus) and QUESTIONS_EN
answerable questions, at most one per paragraph, drawn with a fixed seed. SV: the Swedish translation's
articles that are not among the English ones (so the two sets share no text), capped at SV_ARTICLES, and
QUESTIONS_SV of their questions the same way. EN2 (only when the SQuAD v1.1 dev file is given): its
articles that are not among the English ones, each cut to its first EN2_PARAGRAPHS paragraphs (a corpus
spread over many subjects, as a municipality's documents are), and QUESTIONS_EN2 questions the same way.
Deterministic: the same inputs give the same files.
"""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
QUESTIONS_EN = 300
QUESTIONS_SV = 300
SV_ARTICLES = 10
QUESTIONS_EN2 = 250
EN2_PARAGRAPHS = 50
SEED = 14


def _subset(articles: list[dict[str, Any]], n_questions: int) -> dict[str, Any]:
    documents, candidates = [], []
    for d, article in enumerate(articles):
        paragraphs = [p["context"] for p in article["paragraphs"]]
        documents.append({"id": f"d{d:02d}", "title": article["title"].replace("_", " "), "paragraphs": paragraphs})
        for p, paragraph in enumerate(article["paragraphs"]):
            answerable = [q for q in paragraph["qas"] if q.get("answers") and not q.get("is_impossible")]
            if answerable:
                candidates.append((f"d{d:02d}", p, answerable))
    rng = random.Random(SEED)
    picked = rng.sample(candidates, min(n_questions, len(candidates)))
    questions = []
    for doc, p, answerable in sorted(picked, key=lambda c: (c[0], c[1])):
        q = rng.choice(answerable)
        answer = q["answers"][0]
        questions.append({"id": q["id"], "question": q["question"].strip(), "doc": doc, "paragraph": p,
                          "answer": answer["text"], "answer_start": answer["answer_start"]})
    return {"documents": documents, "questions": questions}


def _numbers(article: dict[str, Any]) -> set[str]:
    """The numbers an article's text holds: they survive translation (the two files' question ids differ)."""
    return set(re.findall(r"\d{2,}", " ".join(p["context"] for p in article["paragraphs"])))


def _same_article(a: set[str], b: set[str]) -> bool:
    return len(a & b) > 0.5 * min(len(a), len(b))


def _held_out(v1_1: list[dict[str, Any]], en: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The v1.1 articles not among the English set's (same titles, same text), each cut to its first paragraphs."""
    taken = {a["title"] for a in en}
    return [{**a, "paragraphs": a["paragraphs"][:EN2_PARAGRAPHS]} for a in v1_1 if a["title"] not in taken]


def main(en_path: str, sv_path: str, en2_path: str | None = None) -> None:
    en = json.loads(Path(en_path).read_text())["data"]
    sv = json.loads(Path(sv_path).read_text())["data"]
    en_prints = [_numbers(a) for a in en]
    sv_only = [a for a in sv if not any(_same_article(_numbers(a), e) for e in en_prints)]
    sets = [("squad_en", en, QUESTIONS_EN), ("squad_sv", sv_only[:SV_ARTICLES], QUESTIONS_SV)]
    if en2_path:
        sets.append(("squad_en2", _held_out(json.loads(Path(en2_path).read_text())["data"], en), QUESTIONS_EN2))
    for name, articles, n in sets:
        data = _subset(articles, n)
        (HERE / f"{name}.json").write_text(json.dumps(data, ensure_ascii=False, indent=0) + "\n")
        print(name, len(data["documents"]), "documents,", sum(len(d["paragraphs"]) for d in data["documents"]),
              "paragraphs,", len(data["questions"]), "questions")


if __name__ == "__main__":
    main(*sys.argv[1:4])
