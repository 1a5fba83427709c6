"""Ingestion throughput, upload to `ready`, against the raw embedder on the same chunks in the same run.

The pipeline: `eneo-local up` (fresh data folder; the local chat model off), one collection on the
built-in all-MiniLM-L6-v2, and `--docs` generated PDFs of `--pages` pages of dense text each, sent
through the direct upload route as fast as the API accepts them. The clock runs from the first upload
until every document is `ready` (polled every 0.2 s): S3 → ingest queue → ingest (detect, extract,
chunk, store) → embed queue → embed (vectors, progress) → ready.

The baseline: the same PDFs extracted and chunked in this process by the same code with the same
settings, then the local embedder on those chunk texts in batches of `EMBED_BATCH_SIZE`, timed after the
stack has stopped so nothing else competes for the CPU: once in one process (one BLAS thread, as each
`embed` instance runs), and once over as many processes as there are cores, as the stack runs two
`embed` instances at once. The ratio (pipeline seconds / the latter) is the pipeline's overhead:
queues, workers, database, events, extraction.

The embedder before its int8 layers (the float32 numpy model) runs on the same chunks too, one thread,
so the speed-up is measured in the same run. LOCAL_EMBEDDER_INT8=false runs the whole bench on float32.

Where the pipeline's time goes: a breakdown from the stack's log (each function's invocations, the embed
handler's load / embed / write / recount steps, instances that started during the run). The clock starts
once the stack has the instances it keeps for its SQS pollers (two each of embed, ingest and crawl), as a
stack in use has.

Run:  .venv/bin/python bench/ingestion.py [--docs 12] [--pages 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.localstack import local_stack, new_admin, post  # noqa: E402

_WORDS = (
    "kommunen beslutar om bygglov förskola skola äldreomsorg avfall återvinning parkering tillstånd "
    "ansökan handläggning överklagande nämnden förvaltningen invånare fastighetsägare detaljplan "
    "the council reviews applications within three weeks and explains every decision in writing "
    "snöröjning halkbekämpning gatukontoret kollektivtrafik busshållplatser avgifter taxa budget"
)
VOCABULARY = _WORDS.split()


def make_pdf(seed: int, pages: int) -> bytes:
    """A PDF of `pages` pages of about 350 words each (a dense page of prose)."""
    from fpdf import FPDF

    rng = random.Random(seed)
    pdf = FPDF()
    pdf.set_font("helvetica", size=10)
    for page in range(pages):
        pdf.add_page()
        words = [rng.choice(VOCABULARY) for _ in range(350)]
        text = f"Dokument {seed}, sida {page + 1}. " + " ".join(words) + "."
        pdf.multi_cell(0, 5, text.encode("latin-1", "replace").decode("latin-1"))
    return bytes(pdf.output())


def stage_breakdown(log: Path, since: int) -> dict[str, float]:
    """Seconds summed over the stack's log from byte `since`: each function's invocations ("sqs batch",
    as the pollers log them) and the embed handler's steps ("embed message done"); counts as `n_*`."""
    totals: dict[str, float] = {}
    with log.open("rb") as f:
        f.seek(since)
        for raw in f:
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(entry, dict):
                continue
            if entry.get("message") == "sqs batch":
                name = str(entry.get("function"))
                totals[name] = totals.get(name, 0.0) + float(entry.get("ms", 0)) / 1000
                totals[f"n_{name}"] = totals.get(f"n_{name}", 0) + 1
                totals[f"messages_{name}"] = totals.get(f"messages_{name}", 0) + int(entry.get("messages", 0))
            elif entry.get("message") == "function instance started":  # a cold start during the run
                name = f"cold starts of {entry.get('function')}"
                totals[name] = totals.get(name, 0.0) + float(entry.get("init_ms", 0)) / 1000
                totals[f"n_{name}"] = totals.get(f"n_{name}", 0) + 1
            elif entry.get("message") == "embed message done":
                for step in ("load_ms", "vectors_ms", "write_ms", "progress_ms"):
                    totals[step] = totals.get(step, 0.0) + float(entry.get(step, 0)) / 1000
    return totals


def print_breakdown(totals: dict[str, float], elapsed: float) -> None:
    """Where the pipeline's seconds went (summed over instances, so two busy instances make 2 s a second)."""
    print(f"stages, seconds summed over instances, within {elapsed:.1f} s upload -> ready:")
    for name in sorted(k for k in totals if not k.startswith(("n_", "messages_")) and not k.endswith("_ms")):
        what = (f"{int(totals['n_' + name])} instances" if name.startswith("cold") else
                f"{int(totals['n_' + name])} invocations ({int(totals['messages_' + name])} messages)")
        print(f"  {name:<36}{totals[name]:8.1f} s in {what}")
    for step, label in (("load_ms", "embed: load chunks (DB)"), ("vectors_ms", "embed: the embedder"),
                        ("write_ms", "embed: write vectors (DB)"), ("progress_ms", "embed: recount, status")):
        if step in totals:
            print(f"  {label:<36}{totals[step]:8.1f} s")


def wait_for_instances(log: Path, function: str, count: int, timeout: float = 180) -> None:
    """Until `count` instances of `function` have started: the stack keeps one per SQS poller
    (ENEO_SQS_CONCURRENCY, 2), started after it is ready; a stack in use has them already. Another
    function's instance importing during the run takes a core from the embedder (1.8-4.1 s measured)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        started = sum(1 for line in log.read_text(errors="replace").splitlines()
                      if '"function instance started"' in line and f'"function": "{function}"' in line)
        if started >= count:
            return
        time.sleep(0.2)
    print(f"note: fewer than {count} {function} instances after {timeout:.0f} s; the run includes their start")


def run_pipeline(documents: list[bytes], work: Path) -> tuple[float, int, int]:
    """Seconds from the first upload until all are ready; total pages and chunks."""
    with local_stack(work, {}) as stack, httpx.Client(base_url=stack.url, timeout=120) as http:
        admin = new_admin(http)
        space = post(http, "/api/v1/spaces/", admin, json={"name": "Bench"})["id"]
        group = post(http, f"/api/v1/spaces/{space}/knowledge/groups/", admin, json={"name": "Bench"})["id"]
        for function in ("EmbedFunction", "IngestFunction", "CrawlFunction"):  # template.yaml's SQS consumers
            wait_for_instances(stack.log, function, int(os.environ.get("ENEO_SQS_CONCURRENCY") or 2))
        since = stack.log.stat().st_size
        start = time.perf_counter()
        ids = [post(http, f"/api/v1/groups/{group}/info-blobs/upload/", admin,
                    files={"file": (f"doc-{i}.pdf", data, "application/pdf")})["id"]
               for i, data in enumerate(documents)]
        uploaded = time.perf_counter() - start
        while True:
            items = http.get(f"/api/v1/groups/{group}/info-blobs/", headers=admin,
                             params={"limit": len(ids)}).json()["items"]
            if failed := [b for b in items if b["status"] == "failed"]:
                raise SystemExit(f"{len(failed)} documents failed: {failed[0]['error_code']}")
            if len(items) == len(ids) and all(b["status"] == "ready" for b in items):
                elapsed = time.perf_counter() - start
                break
            time.sleep(0.2)
        print(f"uploads accepted in {uploaded:.1f} s")
        time.sleep(0.5)  # the last batch's log lines
        print_breakdown(stage_breakdown(stack.log, since), elapsed)
        return elapsed, sum(b["pages"] for b in items), sum(b["chunks_total"] for b in items)


def _load_embedder() -> None:
    from eneo.embeddings import local_embedder

    local_embedder().encode(["warm"])  # weights loaded before the clock starts


def _embed_batch(texts: list[str]) -> int:
    from eneo.embeddings import local_embedder

    return len(local_embedder().encode(texts))


def run_parallel_baseline(texts: list[str], workers: int, batch: int) -> float:
    """The same batches over `workers` processes of one BLAS thread each, as the stack runs `embed`
    (ENEO_SQS_CONCURRENCY pollers, one instance each): the machine's raw embedding capacity."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    batches = [texts[i:i + batch] for i in range(0, len(texts), batch)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_load_embedder) as pool:
        list(pool.map(_embed_batch, [["warm"]] * workers))  # every worker has loaded the weights
        start = time.perf_counter()
        assert sum(pool.map(_embed_batch, batches)) == len(texts)
        return time.perf_counter() - start


def run_baseline(documents: list[bytes]) -> tuple[float, float, int, list[str]]:
    """Extract+chunk seconds, raw embedding seconds (one process), the chunks, in this process."""
    from eneo.core.settings import get_settings
    from eneo.embeddings import local_embedder
    from eneo.knowledge.chunking import chunk
    from eneo.knowledge.extract import detect, extract
    from eneo.knowledge.extract.types import ExtractLimits

    settings = get_settings()
    limits = ExtractLimits.from_settings(settings)
    start = time.perf_counter()
    texts: list[str] = []
    for i, data in enumerate(documents):
        extracted = extract(data, detect(data, f"doc-{i}.pdf", "application/pdf"), limits)
        texts += [c.text for c in chunk(extracted.sections, settings.chunk_size_tokens, settings.chunk_overlap_tokens)]
    prepared = time.perf_counter() - start

    embedder = local_embedder()
    asyncio.run(embedder.embed(texts[:4]))  # load the weights before the clock starts
    start = time.perf_counter()
    for i in range(0, len(texts), settings.embed_batch_size):
        asyncio.run(embedder.embed(texts[i:i + settings.embed_batch_size], purpose="document"))
    return prepared, time.perf_counter() - start, len(texts), texts


def run_float32_baseline(texts: list[str], batch: int) -> float:
    """The same chunks through the float32 numpy model (the embedder before its int8 layers), one thread."""
    from eneo.embeddings import minilm

    model = minilm.load()
    model.encode(texts[:4])
    start = time.perf_counter()
    for i in range(0, len(texts), batch):
        model.encode(texts[i:i + batch], batch_size=batch)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=12)
    parser.add_argument("--pages", type=int, default=5)
    parser.add_argument("--keep-log", type=Path, help="copy the stack's log here (to look into a stage)")
    args = parser.parse_args(argv)
    documents = [make_pdf(seed, args.pages) for seed in range(args.docs)]
    with tempfile.TemporaryDirectory(prefix="eneo-bench-ingest-") as tmp:
        elapsed, pages, chunks = run_pipeline(documents, Path(tmp))
        if args.keep_log:
            shutil.copyfile(Path(tmp) / "eneo-local.log", args.keep_log)
    prepared, embedded, raw_chunks, texts = run_baseline(documents)
    from eneo.core.settings import get_settings

    workers = os.cpu_count() or 1
    parallel = run_parallel_baseline(texts, workers, get_settings().embed_batch_size)
    float32 = run_float32_baseline(texts, get_settings().embed_batch_size)
    from eneo.embeddings import local

    kind = "int8 layers, ONNX Runtime" if type(local.model()).__name__ == "MiniLMInt8" else "float32 numpy"
    print(f"{args.docs} PDFs x {args.pages} pages of dense text, all-MiniLM-L6-v2 ({kind}), "
          f"chunks of the default size; {pages} pages, {chunks} chunks")
    print(f"{'':<34}{'seconds':>9}{'pages/s':>9}{'chunks/s':>10}")
    print(f"{'pipeline (upload -> ready)':<34}{elapsed:>9.1f}{pages / elapsed:>9.2f}{chunks / elapsed:>10.2f}")
    print(f"{'raw embedder, 1 process':<34}{embedded:>9.1f}{pages / embedded:>9.2f}{raw_chunks / embedded:>10.2f}")
    print(f"{f'raw embedder, {workers} processes':<34}{parallel:>9.1f}{pages / parallel:>9.2f}"
          f"{raw_chunks / parallel:>10.2f}")
    print(f"{'raw float32 numpy model, 1 process':<34}{float32:>9.1f}{pages / float32:>9.2f}"
          f"{raw_chunks / float32:>10.2f}")
    print(f"{'extract + chunk, in process':<34}{prepared:>9.1f}{pages / prepared:>9.2f}")
    print(f"raw embedder / float32 numpy, 1 process: {float32 / embedded:.2f}x the chunks/s")
    print(f"pipeline / raw embedder on {workers} processes: {elapsed / parallel:.2f}x "
          f"(the pipeline's overhead; 1.00 = none)")
    if raw_chunks != chunks:
        print(f"note: the pipeline made {chunks} chunks, the baseline {raw_chunks}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
