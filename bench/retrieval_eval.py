"""Retrieval quality and latency per method on four sets: R@1/5/10, MRR, p50/p99 of the ranking call.

Sets: `norrvik` (tests/fixtures/corpus: our own invented municipality, Swedish and English, one chunk per
passage), `squad-en`, `squad-en2` and `squad-sv` (public SQuAD subsets in bench/data, chunked 200/40 with
our own chunker, embedded with the local all-MiniLM-L6-v2; bench/qa_sets.py says what a hit is).
`squad-en2` (SQuAD v1.1, 32 other articles) is held out: no retrieval constant was tuned on it. Methods: the
search route's `dense`, `lexical` and `hybrid` (eneo.retrieval.service.ranking), and plain reciprocal-rank
fusion (`rrf`, weight 1) of the same two lists as the baseline a fusion has to beat. The last line per set
compares hybrid with dense at every k (the goal: never below it). `--wikiqa WikiQA-test.tsv` adds `wikiqa`
and `wikiqa-md`: WikiQA's test split (real search-engine questions over Wikipedia paragraphs, the outside
check's set; not in bench/data, its licence keeps it out: bench/qa_sets.load_wikiqa), its paragraphs bare
and after a `# <title>` line (a Markdown upload's first chunk starts with it, as the outside check's did).
`--wikiqa WikiQA-train.tsv` (the train split, the same format: 872 questions) is a larger set nothing was
tuned on.

Starts the embedded Postgres (pgserver) in a temporary folder (or uses DATABASE_URL) and migrates it.
Latency is the ranking call's time on this machine (the query's embedding excluded, it is the same for all).

`--rerank 1,0.5` adds `rerank@w` per weight w: hybrid's first RERANK_DEPTH hits reordered by a reranker
whose weights ship in a package (bench/rerankers.py: nanoranker, installed by hand), mixed with the fused
score at weight w. The reranker scores each question once; its time is added to every rerank@w's latency.

`--embedder e5` makes multilingual-e5-small the dense half (the built-in model for Swedish collections):
the fusion's constants were chosen with MiniLM, and this shows they serve e5 too.

Run:  .venv/bin/python bench/retrieval_eval.py [--sets norrvik,squad-en,squad-en2,squad-sv] [--wikiqa FILE]
      [--embedder e5] [--rerank 1,0.5] [--verbose]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared"), str(ROOT / "local")]

from sqlalchemy.ext.asyncio import AsyncSession  # noqa: E402

from bench.scratchdb import scratch_database  # noqa: E402
from eneo.retrieval.fusion import rank_fuse  # noqa: E402
from eneo.retrieval.lexical import lexical_search  # noqa: E402
from eneo.retrieval.service import DEPTH, ranking  # noqa: E402
from eneo.retrieval.vector import dense_search  # noqa: E402

METHODS = ("dense", "lexical", "rrf", "hybrid")
KS = (1, 5, 10)
TOP = 10
RERANK_DEPTH = 20


@dataclass(frozen=True)
class _Model:
    id: uuid.UUID
    dimensions: int


@dataclass
class Case:
    q: str
    gold: frozenset[uuid.UUID]


@dataclass
class Result:
    name: str
    cases: list[Case]
    ranks: dict[str, list[int | None]] = field(default_factory=dict)
    seconds: dict[str, list[float]] = field(default_factory=dict)
    methods: tuple[str, ...] = METHODS

    def recall(self, method: str, k: int) -> float:
        return sum(1 for r in self.ranks[method] if r is not None and r <= k) / len(self.cases)

    def mrr(self, method: str) -> float:
        return sum(1 / r for r in self.ranks[method] if r is not None) / len(self.cases)

    def latency_ms(self, method: str, q: float) -> float:
        values = sorted(self.seconds[method])
        return 1000 * values[min(len(values) - 1, int(q * len(values)))]

    def table(self) -> str:
        head = "".join(f"{'R@' + str(k):>7}" for k in KS) + f"{'MRR':>7}{'p50 ms':>9}{'p99 ms':>9}"
        lines = [f"{self.name} ({len(self.cases)} questions)", f"  {'method':<8}{head}"]
        for m in self.methods:
            lines.append(f"  {m:<8}" + "".join(f"{self.recall(m, k):7.3f}" for k in KS) + f"{self.mrr(m):7.3f}"
                         + f"{self.latency_ms(m, 0.5):9.1f}{self.latency_ms(m, 0.99):9.1f}")
        worse = [k for k in KS if self.recall("hybrid", k) < self.recall("dense", k)]
        ratio = self.recall("hybrid", 5) / (self.recall("dense", 5) or 1)
        verdict = f"below dense at k={worse}" if worse else "not below dense at any k"
        lines.append(f"  hybrid/dense R@5 {ratio:.3f}; hybrid {verdict}")
        return "\n".join(lines)


Rank = Callable[[AsyncSession, str, Sequence[float]], Awaitable[list[uuid.UUID]]]


def rankers(tenant_id: uuid.UUID, group_id: uuid.UUID, model: _Model) -> dict[str, Rank]:
    args: dict[str, Any] = {"tenant_id": tenant_id, "group_ids": [group_id]}

    def via_service(method: str) -> Rank:
        async def rank(session: AsyncSession, q: str, v: Sequence[float]) -> list[uuid.UUID]:
            found = await ranking(session, **args, query_text=q, query_vector=v, embedding_model=model,
                                  method=method)  # type: ignore[arg-type]
            return [f.chunk_id for f in found[:TOP]]
        return rank

    async def plain_rrf(session: AsyncSession, q: str, v: Sequence[float]) -> list[uuid.UUID]:
        dense = (await dense_search(session, **args, model=model, vector=v, limit=DEPTH)).hits
        lexical = await lexical_search(session, **args, query=q, limit=DEPTH)
        return [f.chunk_id for f in rank_fuse(dense, lexical, TOP)]

    return {"dense": via_service("dense"), "lexical": via_service("lexical"), "rrf": plain_rrf,
            "hybrid": via_service("hybrid")}


def _rank(found: list[uuid.UUID], gold: frozenset[uuid.UUID]) -> int | None:
    return next((i for i, c in enumerate(found, start=1) if c in gold), None)


async def measure(name: str, tenant_id: uuid.UUID, group_id: uuid.UUID, model_id: uuid.UUID, cases: list[Case],
                  vectors: list[list[float]], rerank_weights: Sequence[float] = (), reranker: str = "nanoranker"
                  ) -> Result:
    from sqlalchemy import text

    from bench import rerankers
    from eneo.core.db import UnitOfWork

    names = METHODS + tuple(f"rerank@{w:g}" for w in rerank_weights)
    result = Result(name, cases, {m: [] for m in names}, {m: [] for m in names}, names)
    model = _Model(model_id, len(vectors[0]))
    methods = rankers(tenant_id, group_id, model)
    scorer = rerankers.nanoranker_scorer() if rerank_weights and reranker == "nanoranker" else None
    async with UnitOfWork(tenant_id) as uow:
        texts: dict[uuid.UUID, str] = dict((await uow.session.execute(text(  # type: ignore[arg-type]
            "SELECT id, text FROM chunks WHERE group_id = :g"), {"g": group_id})).all())
    sentence_vectors: dict[str, Sequence[float]] = {}
    if rerank_weights and reranker == "sentences":
        from bench import qa_sets
        from eneo.embeddings import LOCAL_MODEL_NAME, local_embedder

        every = sorted({s for t in texts.values() for s in rerankers.sentences(t)})
        t0 = time.perf_counter()
        sentence_vectors = dict(zip(every, await qa_sets.embed_cached(local_embedder().embed, every,
                                                                      LOCAL_MODEL_NAME), strict=True))
        print(f"  {len(every)} sentences embedded in {time.perf_counter() - t0:.1f} s")
    async with UnitOfWork(tenant_id) as uow:
        for rank in methods.values():  # warm each path once
            await rank(uow.session, cases[0].q, vectors[0])
        for case, vector in zip(cases, vectors, strict=True):
            for m, rank in methods.items():
                t0 = time.perf_counter()
                found = await rank(uow.session, case.q, vector)
                result.seconds[m].append(time.perf_counter() - t0)
                result.ranks[m].append(_rank(found, case.gold))
            if not rerank_weights:
                continue
            if reranker == "sentences":
                scorer = rerankers.sentence_scorer(sentence_vectors, vector)
            assert scorer is not None
            t0 = time.perf_counter()
            head = (await ranking(uow.session, tenant_id=tenant_id, group_ids=[group_id], query_text=case.q,
                                  query_vector=vector, embedding_model=model))[:RERANK_DEPTH]
            scores = scorer(case.q, [texts[f.chunk_id] for f in head])
            spent = time.perf_counter() - t0
            for w in rerank_weights:
                t1 = time.perf_counter()
                order = rerankers.rerank([f.chunk_id for f in head], [f.score for f in head], scores, w)
                result.seconds[f"rerank@{w:g}"].append(spent + time.perf_counter() - t1)
                result.ranks[f"rerank@{w:g}"].append(_rank(order[:TOP], case.gold))
    return result


async def dump_lists(tenant_id: uuid.UUID, group_id: uuid.UUID, model_id: uuid.UUID, cases: list[Case],
                     vectors: list[list[float]]) -> list[dict[str, Any]]:
    from eneo.core.db import UnitOfWork

    args: dict[str, Any] = {"tenant_id": tenant_id, "group_ids": [group_id]}
    model = _Model(model_id, len(vectors[0]))
    out = []
    async with UnitOfWork(tenant_id) as uow:
        for case, v in zip(cases, vectors, strict=True):
            dense = (await dense_search(uow.session, **args, model=model, vector=v, limit=DEPTH)).hits
            lexical = await lexical_search(uow.session, **args, query=case.q, limit=DEPTH)
            out.append({"q": case.q, "gold": [str(g) for g in case.gold],
                        "dense": [[str(h.chunk_id), h.score, str(h.document_id)] for h in dense],
                        "lexical": [[str(h.chunk_id), h.score, h.matched, h.terms, h.possible, h.stop_words]
                                        for h in lexical]})
    return out


async def run(sets: list[str], verbose: bool, dump: str | None = None, rerank_weights: Sequence[float] = (),
              reranker: str = "nanoranker", wikiqa: Path | None = None, embedder_name: str = "minilm") -> int:
    from bench import qa_sets
    from eneo.core.db import UnitOfWork, dispose_engine
    from eneo.embeddings import LOCAL_MODEL_NAME, Embedder, local_embedder
    from eneo.tenants.schemas import TenantCreate
    from eneo.tenants.service import create_tenant
    from tests.fixtures.corpus.seed import questions, seed_corpus

    embedder: Embedder = local_embedder()
    model_name = LOCAL_MODEL_NAME
    if embedder_name == "e5":
        from eneo.embeddings.e5 import NAME, e5_embedder

        embedder, model_name = e5_embedder(), NAME
    embed_chunks = functools.partial(embedder.embed, purpose="document")
    async with UnitOfWork(sysadmin=True) as uow:
        tenant = await create_tenant(uow, TenantCreate(name=f"eval-{uuid.uuid4().hex[:8]}"))
    failed = 0
    dumped: dict[str, Any] = {}
    for name in sets:
        t0 = time.perf_counter()
        async with UnitOfWork(tenant.id) as uow:
            if name == "norrvik":
                seeded = await seed_corpus(uow.session, tenant.id, embed_chunks)
                group_id, model_id, chunks = seeded.group_id, seeded.model_id, len(seeded.chunk_ids)
                cases = [Case(q.q, frozenset({seeded.chunk_ids[(q.doc, q.passage)]})) for q in questions()]
            else:
                qa = qa_sets.load_named(name, wikiqa)
                vectors = await qa_sets.embed_cached(embed_chunks, [c[2] for c in qa.chunks], model_name)
                group_id, model_id = await qa_sets.store(uow.session, tenant.id, qa, vectors)
                chunks = len(qa.chunks)
                cases = [Case(q.q, frozenset(qa.chunk_ids[i] for i in q.gold)) for q in qa.questions]
        query_vectors = await qa_sets.embed_cached(embedder.embed, [c.q for c in cases], model_name)
        print(f"\n{name}: {chunks} chunks stored and embedded in {time.perf_counter() - t0:.1f} s")
        if dump:
            dumped[name] = await dump_lists(tenant.id, group_id, model_id, cases, query_vectors)
        result = await measure(name, tenant.id, group_id, model_id, cases, query_vectors, rerank_weights, reranker)
        print(result.table())
        if verbose:
            for i, case in enumerate(cases):
                ranks = {m: result.ranks[m][i] for m in result.methods}
                if ranks["hybrid"] != ranks["dense"]:
                    print("  ", "  ".join(f"{m}={r or '-':>2}" for m, r in ranks.items()), "|", case.q)
        failed += any(result.recall("hybrid", k) < result.recall("dense", k) for k in KS)
    await dispose_engine()
    if dump:
        await asyncio.to_thread(Path(dump).write_text, json.dumps(dumped))
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="norrvik,squad-en,squad-en2,squad-sv", help="comma-separated: "
                        "norrvik, squad-en, squad-en2, squad-sv")
    parser.add_argument("--dump", help="write each question's dense and lexical lists (ids, scores) to this "
                        "JSON file, to study a fusion offline")
    parser.add_argument("--verbose", action="store_true", help="each question where hybrid and dense differ")
    parser.add_argument("--rerank", default="", help="comma-separated weights of the reranker's score (1 = its "
                        f"order alone) for hybrid's first {RERANK_DEPTH} hits; needs nanoranker (bench/rerankers.py)")
    parser.add_argument("--reranker", choices=("nanoranker", "sentences"), default="nanoranker",
                        help="what --rerank uses (bench/rerankers.py)")
    parser.add_argument("--wikiqa", type=Path, help="WikiQA-test.tsv (WikiQA's test split, saved by you: its "
                        "licence keeps it out of bench/data): adds the sets `wikiqa` and `wikiqa-md` (each paragraph "
                        "after a `# <title>` line), 619 Wikipedia paragraphs, 243 questions")
    parser.add_argument("--embedder", choices=("minilm", "e5"), default="minilm",
                        help="the dense half: all-MiniLM-L6-v2 (the default model) or multilingual-e5-small "
                        "(chunks as passages, questions as queries; ~4 chunks/s: minutes per set)")
    args = parser.parse_args()
    sets = args.sets.split(",") + (["wikiqa", "wikiqa-md"] if args.wikiqa else [])
    if args.wikiqa and not args.wikiqa.is_file():
        parser.error(f"--wikiqa: no such file: {args.wikiqa}")
    weights = [float(w) for w in args.rerank.split(",") if w.strip()]
    if weights and args.reranker == "nanoranker":
        from bench import rerankers

        if not rerankers.available():
            parser.error("--rerank needs nanoranker: .venv/bin/pip install nanoranker")
    with scratch_database("eneo-eval-", reuse_env=True):
        return asyncio.run(run(sets, args.verbose, args.dump, weights, args.reranker, args.wikiqa, args.embedder))


if __name__ == "__main__":
    sys.exit(main())
