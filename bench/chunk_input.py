"""What the embedder sees of a chunk, and whether another input would rank better: dense search by exact
cosine (numpy) on the public QA sets, per embedding input, with the local all-MiniLM-L6-v2.

Inputs: `plain` (the chunk's text, as ingestion embeds it) and `title` (the document's title, a blank
line, then the text: a heading prefix). Also prints the chunks' token counts (the model reads 256 word
pieces with [CLS]/[SEP]: a longer chunk would be cut) and, for plain, where the misses at 5 go (the
first hit a sibling chunk of the gold's own document, or another document).

Run:  .venv/bin/python bench/chunk_input.py [--sets squad-en,squad-sv]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared"), str(ROOT / "local")]

KS = (1, 5, 10)


def gold_ranks(scores: np.ndarray, golds: list[frozenset[int]]) -> np.ndarray:
    """1-based rank of each question's first gold chunk."""
    ranks = []
    for row, gold in zip(scores, golds, strict=True):
        order = np.argsort(-row, kind="stable")
        ranks.append(next(i for i, c in enumerate(order, start=1) if int(c) in gold))
    return np.array(ranks)


async def run(sets: list[str]) -> None:
    from bench import qa_sets
    from eneo.embeddings import LOCAL_MAX_INPUT_TOKENS as MAX_INPUT_TOKENS
    from eneo.embeddings import LOCAL_MODEL_NAME, local_embedder
    from eneo.knowledge.chunking import count_tokens

    embedder = local_embedder()
    for name in sets:
        qa = qa_sets.load(name)
        golds = [q.gold for q in qa.questions]
        tokens = [count_tokens(c[2]) for c in qa.chunks]
        print(f"{name}: {len(qa.chunks)} chunks, tokens mean {np.mean(tokens):.0f} max {max(tokens)}; "
              f"longer than the model reads ({MAX_INPUT_TOKENS - 2}): {sum(t > MAX_INPUT_TOKENS - 2 for t in tokens)}")
        queries = np.array(await qa_sets.embed_cached(embedder.embed, [q.q for q in qa.questions], LOCAL_MODEL_NAME))
        inputs = {"plain": [c[2] for c in qa.chunks],
                  "title": [f"{qa.titles[c[0]]}\n\n{c[2]}" for c in qa.chunks]}
        for label, texts in inputs.items():
            vectors = np.array(await qa_sets.embed_cached(embedder.embed, texts, LOCAL_MODEL_NAME))
            scores = queries @ vectors.T
            ranks = gold_ranks(scores, golds)
            recall = " / ".join(f"{np.mean(ranks <= k):.3f}" for k in KS)
            print(f"  {label:<6} R@1/5/10 {recall}  MRR {np.mean(1 / ranks):.3f}")
            if label == "plain":
                misses = [i for i, r in enumerate(ranks) if r > 5]
                sibling = sum(qa.chunks[int(np.argmax(scores[i]))][0] == qa.questions[i].doc for i in misses)
                print(f"         misses at 5: {len(misses)}, of which the first hit is in the gold's own "
                      f"document: {sibling}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="squad-en,squad-sv")
    args = parser.parse_args()
    asyncio.run(run(args.sets.split(",")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
