"""Raw throughput of the local all-MiniLM-L6-v2 embedder (numpy), against baselines from the same run.

Two workloads: short sentences (~12 tokens) and 200-token chunks (the ingestion chunk size; the model
reads 256 at most), each embedded with batch sizes 1, 8 and 32, in embeddings per second. Two ratios:
against batch size 1 of the same workload, and against the GEMM ceiling: the time numpy's BLAS takes,
measured alternately with each row, for the model's dense matrix products alone over the same tokens (everything else
— attention, softmax, GELU, LayerNorm, tokenizing, padding — is what the ratio says we lose).

Each thread setting runs in a fresh interpreter (OPENBLAS_NUM_THREADS is read when numpy loads; the
embedder itself applies settings.local_embedder_threads, 1 by default, when it loads), which
also gives the cold figures: importing numpy/tokenizers/safetensors and the module, and loading the
weights. On a shared machine a second BLAS thread can be much slower than one (it waits for a busy
core): compare the two rows before drawing conclusions.

Run:  .venv/bin/python bench/embedder.py [--threads 1,0] [--chunks 64] [--sentences 512]
      (--threads 0 = numpy's default, all cores)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BATCHES = (1, 8, 32)

CHILD = r"""
import json, random, sys, time
t0 = time.perf_counter()
from eneo.embeddings import minilm
t1 = time.perf_counter()
model = minilm.MiniLM()
t2 = time.perf_counter()
import numpy as np

n_chunks, n_sentences, batches = int(sys.argv[1]), int(sys.argv[2]), [int(b) for b in sys.argv[3].split(",")]
WORDS = ("the municipality council decided that applications for building permits school placements and "
         "elderly care are reviewed within three weeks and every decision is explained in writing to the "
         "applicant who may appeal to the administrative court kommunen beslutade att ansökningar om bygglov "
         "förskoleplats och äldreomsorg ska prövas inom tre veckor och att varje beslut motiveras skriftligt "
         "budget 2025 invånare nämnden socialtjänsten förvaltningen region hälso sjukvård").split()
rng = random.Random(7)

def text_of(tokens):
    words, out = [], None
    while True:
        words.append(rng.choice(WORDS))
        ids = model.tokenizer.encode(" ".join(words)).ids
        if len(ids) >= tokens:
            return model.tokenizer.decode(ids[1:tokens - 1])

first = time.perf_counter(); model.encode(["warm up"]); first = time.perf_counter() - first
workloads = {"short": [text_of(12 + rng.randrange(-4, 5)) for _ in range(n_sentences)],
             "chunk200": [text_of(200) for _ in range(n_chunks)]}

def gemm_seconds(tokens, repeat=3):
    shapes = [(384, 1152), (384, 384), (384, 1536), (1536, 384)]
    x = {k: np.random.rand(tokens, k).astype(np.float32) for k in (384, 1536)}
    w = {s: np.random.rand(*s).astype(np.float32) for s in shapes}
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(len(model.layers)):
            for s in shapes:
                x[s[0]] @ w[s]
        best = min(best, time.perf_counter() - start)
    return best

rows = []
for name, texts in workloads.items():
    tokens = sum(len(i) for i in model.token_ids(texts))
    for batch in batches:
        model.encode(texts[:batch], batch_size=batch)
        best, gemm = float("inf"), float("inf")
        for _ in range(2):  # alternated, so that load from elsewhere hits both alike
            gemm = min(gemm, gemm_seconds(tokens, repeat=1))
            start = time.perf_counter(); model.encode(texts, batch_size=batch)
            best = min(best, time.perf_counter() - start)
        rows.append({"workload": name, "texts": len(texts), "tokens_avg": tokens / len(texts), "batch": batch,
                     "per_s": len(texts) / best, "gemm_ceiling_per_s": len(texts) / gemm})
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_embed_s": first, "rows": rows}))
"""


def run(threads: int, chunks: int, sentences: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "shared"))
    if threads:
        env.update(OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    else:
        env.pop("OPENBLAS_NUM_THREADS", None)
        env.pop("OMP_NUM_THREADS", None)
    argv = [sys.executable, "-c", CHILD, str(chunks), str(sentences), ",".join(map(str, BATCHES))]
    out = subprocess.run(argv,  # noqa: S603 (our own interpreter and script)
                         env=env, capture_output=True, text=True, check=True)
    result: dict = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", default="1,0", help="BLAS thread counts to run, 0 = numpy's default")
    parser.add_argument("--chunks", type=int, default=64)
    parser.add_argument("--sentences", type=int, default=512)
    args = parser.parse_args(argv)
    print(f"local all-MiniLM-L6-v2 (numpy), {os.cpu_count()} CPUs; best of 2 runs per row")
    for threads in (int(t) for t in args.threads.split(",")):
        result = run(threads, args.chunks, args.sentences)
        label = f"{threads} BLAS thread(s)" if threads else f"default BLAS threads ({os.cpu_count()} CPUs)"
        print(f"\n{label}: cold import {result['import_s']:.2f} s, weights {result['load_s']:.2f} s, "
              f"first embed {result['first_embed_s'] * 1000:.0f} ms")
        print(f"{'workload':<10} {'tokens':>6} {'batch':>5} {'emb/s':>8} {'x batch 1':>9} {'GEMM ceiling/s':>15} "
              f"{'of ceiling':>10}")
        base: dict[str, float] = {}
        for row in result["rows"]:
            base.setdefault(row["workload"], row["per_s"])
            print(f"{row['workload']:<10} {row['tokens_avg']:>6.0f} {row['batch']:>5} {row['per_s']:>8.1f} "
                  f"{row['per_s'] / base[row['workload']]:>9.2f} {row['gemm_ceiling_per_s']:>15.1f} "
                  f"{row['per_s'] / row['gemm_ceiling_per_s']:>10.0%}")


if __name__ == "__main__":
    main()
