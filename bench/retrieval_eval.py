"""Retrieval quality on the corpus in tests/fixtures/corpus: recall@k and MRR of dense, lexical, plain RRF and
eneo.retrieval's gated fusion, with the real local all-MiniLM-L6-v2 embedder.

Starts the embedded Postgres (pgserver) in a temporary folder (or uses DATABASE_URL), migrates it, stores
the corpus as one collection of a new tenant, and asks every question. Each passage is one chunk, so a
question's answer is one chunk; recall@k = share of questions whose chunk is in the top k.

Run:  .venv/bin/python bench/retrieval_eval.py [--verbose]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared"), str(ROOT / "local")]

from bench.scratchdb import scratch_database  # noqa: E402


async def run(verbose: bool) -> int:
    from eneo.core.db import UnitOfWork, dispose_engine
    from eneo.embeddings import local_embedder
    from eneo.tenants.schemas import TenantCreate
    from eneo.tenants.service import create_tenant
    from tests.fixtures.corpus.evaluate import METHODS, evaluate
    from tests.fixtures.corpus.seed import seed_corpus

    embedder = local_embedder()
    async with UnitOfWork(sysadmin=True) as uow:
        tenant = await create_tenant(uow, TenantCreate(name=f"eval-{uuid.uuid4().hex[:8]}"))
    t0 = time.perf_counter()
    async with UnitOfWork(tenant.id) as uow:
        seeded = await seed_corpus(uow.session, tenant.id, embedder.embed)
    print(f"corpus stored and embedded in {time.perf_counter() - t0:.1f} s ({len(seeded.chunk_ids)} chunks)")
    async with UnitOfWork(tenant.id) as uow:
        report = await evaluate(uow.session, seeded, embedder.embed)
    await dispose_engine()
    print(report.table())
    if verbose:
        for i, q in enumerate(report.questions):
            print("  ".join(f"{m}={report.ranks[m][i] or '-':>2}" for m in METHODS), "|", q.kind, "|", q.q)
    best_half = max(report.recall("dense", 5), report.recall("lexical", 5))
    fused = report.recall("fused", 5)
    print(f"\nfused R@5 {fused:.3f} vs the better half {best_half:.3f}: "
          f"{'not worse' if fused >= best_half else 'WORSE'}; plain RRF {report.recall('rrf', 5):.3f}")
    return 0 if fused >= report.recall("dense", 5) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="each question's rank per method")
    args = parser.parse_args()
    with scratch_database("eneo-eval-", reuse_env=True):
        return asyncio.run(run(args.verbose))


if __name__ == "__main__":
    sys.exit(main())
