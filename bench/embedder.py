"""Raw throughput of the local all-MiniLM-L6-v2 embedder (numpy), against baselines from the same run.

The last table: the embedder's default, int8 encoder layers in ONNX Runtime (eneo.embeddings.minilm_int8),
against this float32 numpy model on the same texts in the same run, and the worst cosine between them.

Two workloads: short sentences (~12 tokens) and 200-token chunks (the ingestion chunk size; the model
reads 256 at most), each embedded with batch sizes 1, 8 and 32, in embeddings per second. Two ratios:
against batch size 1 of the same workload and thread count, and against the GEMM ceiling: the time
numpy's BLAS takes for the model's dense matrix products alone over the same tokens (everything else —
attention, softmax, GELU, LayerNorm, tokenizing, padding — is what that ratio says we lose).

Each row runs with 1 BLAS thread and with one per CPU (eneo.embeddings.minilm.set_blas_threads; the
embedder's default is settings.local_embedder_threads = 1), alternating thread counts and the GEMM
ceiling run by run, so that load from other processes on a shared machine hits all of them alike; a
row is the best of its runs. The cold figures (import of numpy/tokenizers/safetensors and the module,
loading the weights, the first embed) come from fresh interpreters, median of three.

Run:  .venv/bin/python bench/embedder.py [--chunks 64] [--sentences 512] [--runs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "shared"))

import numpy as np  # noqa: E402

from eneo.embeddings import minilm  # noqa: E402

BATCHES = (1, 8, 32)
SHAPES = [(384, 1152), (384, 384), (384, 1536), (1536, 384)]  # QKV, attention output, FFN in, FFN out
VOCABULARY = ("the municipality council decided that applications for building permits school placements and "
         "elderly care are reviewed within three weeks and every decision is explained in writing to the "
         "applicant who may appeal to the administrative court kommunen beslutade att ansökningar om bygglov "
         "förskoleplats och äldreomsorg ska prövas inom tre veckor och att varje beslut motiveras skriftligt "
         "budget 2025 invånare nämnden socialtjänsten förvaltningen region hälso sjukvård")
WORDS = VOCABULARY.split()

COLD = """
import json, sys, time
t0 = time.perf_counter()
from eneo.embeddings import minilm
t1 = time.perf_counter()
model = minilm.load()  # as the embedder does: BLAS threads from settings.local_embedder_threads
t2 = time.perf_counter()
model.encode(["warm up"])
t3 = time.perf_counter()
print(json.dumps([t1 - t0, t2 - t1, t3 - t2]))
"""


def cold_start() -> tuple[float, float, float]:
    """Median (import, weights, first embed) seconds over three fresh interpreters."""
    samples = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", COLD],  # noqa: S603 (our own interpreter and script)
                             env=dict(os.environ, PYTHONPATH=str(ROOT / "shared")), capture_output=True, text=True,
                             check=True)
        samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    first, second, third = (statistics.median(column) for column in zip(*samples, strict=True))
    return first, second, third


def texts_of(model: minilm.MiniLM, tokens: int, count: int, rng: random.Random, spread: int = 0) -> list[str]:
    """`count` texts of about `tokens` tokens each ([CLS] and [SEP] included), cut at a token boundary."""
    out = []
    for _ in range(count):
        want = tokens + (rng.randint(-spread, spread) if spread else 0)
        words = [rng.choice(WORDS) for _ in range(want)]
        ids = model.tokenizer.encode(" ".join(words)).ids
        out.append(model.tokenizer.decode(ids[1:want - 1]))
    return out


def gemm_seconds(tokens: int, layers: int, cache: dict[int, dict[str, np.ndarray]]) -> float:
    arrays = cache.setdefault(tokens, {
        **{f"x{k}": np.random.rand(tokens, k).astype(np.float32) for k in (384, 1536)},
        **{f"w{a}x{b}": np.random.rand(a, b).astype(np.float32) for a, b in SHAPES}})
    start = time.perf_counter()
    for _ in range(layers):
        for a, b in SHAPES:
            arrays[f"x{a}"] @ arrays[f"w{a}x{b}"]
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=64)
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args(argv)
    cpus = os.cpu_count() or 1
    threads = sorted({1, cpus})

    imported, loaded, first = cold_start()
    print(f"local all-MiniLM-L6-v2 (numpy), {cpus} CPUs. Cold: import {imported:.2f} s, weights {loaded:.2f} s, "
          f"first embed {first * 1000:.0f} ms (median of 3 fresh interpreters)")
    model = minilm.MiniLM()
    rng = random.Random(7)
    workloads = {"short": texts_of(model, 12, args.sentences, rng, spread=4),
                 "chunk200": texts_of(model, 200, args.chunks, rng)}
    cache: dict[int, dict[str, np.ndarray]] = {}
    print(f"\n{'workload':<9} {'tokens':>6} {'batch':>5} {'threads':>7} {'emb/s':>8} {'x batch 1':>9} "
          f"{'GEMM ceiling/s':>14} {'of ceiling':>10}")
    for name, texts in workloads.items():
        tokens = sum(len(ids) for ids in model.token_ids(texts))
        base: dict[int, float] = {}
        for batch in BATCHES:
            best = dict.fromkeys(threads, float("inf"))
            ceiling = dict.fromkeys(threads, float("inf"))
            for _ in range(args.runs):
                for count in threads:
                    minilm.set_blas_threads(count)
                    model.encode(texts[:batch], batch_size=batch)  # warm
                    ceiling[count] = min(ceiling[count], gemm_seconds(tokens, len(model.layers), cache))
                    start = time.perf_counter()
                    model.encode(texts, batch_size=batch)
                    best[count] = min(best[count], time.perf_counter() - start)
            for count in threads:
                rate, limit = len(texts) / best[count], len(texts) / ceiling[count]
                base.setdefault(count, rate)
                print(f"{name:<9} {tokens / len(texts):>6.0f} {batch:>5} {count:>7} {rate:>8.1f} "
                      f"{rate / base[count]:>9.2f} {limit:>14.1f} {rate / limit:>10.0%}")
    int8_against_float32(model, workloads, threads, args.runs)


def int8_against_float32(model: minilm.MiniLM, workloads: dict[str, list[str]], threads: list[int],
                         runs: int) -> None:
    """The embedder's default (int8 encoder layers in ONNX Runtime) against the float32 numpy model, batch
    32, alternating run by run; also the worst cosine between the two models' vectors."""
    if not minilm.int8_available():
        print("\nint8: ONNX Runtime is not installed (the embedders extra); skipped")
        return
    from eneo.embeddings.minilm_int8 import MiniLMInt8

    int8 = {count: MiniLMInt8(threads=count) for count in threads}
    print(f"\n{'workload':<9} {'threads':>7} {'float32/s':>9} {'int8/s':>8} {'x float32':>9} {'min cosine':>10}")
    for name, texts in workloads.items():
        for count in threads:
            minilm.set_blas_threads(count)
            best = {"float32": float("inf"), "int8": float("inf")}
            for _ in range(runs):
                for label, m in (("float32", model), ("int8", int8[count])):
                    m.encode(texts[:32])  # warm
                    start = time.perf_counter()
                    m.encode(texts, batch_size=32)
                    best[label] = min(best[label], time.perf_counter() - start)
            cosine = float((model.encode(texts) * int8[count].encode(texts)).sum(axis=1).min())
            f32, i8 = len(texts) / best["float32"], len(texts) / best["int8"]
            print(f"{name:<9} {count:>7} {f32:>9.1f} {i8:>8.1f} {i8 / f32:>9.2f} {cosine:>10.4f}")


if __name__ == "__main__":
    main()
