"""Is the database's dense ranking exact? eneo.retrieval.vector.dense_search against cosine in numpy over the
very vectors the database holds, per set (norrvik, squad-en, squad-sv) and per path.

Paths measured, each as its own line:

* `default`: the search as a request runs it (a collection of < EXACT_THRESHOLD rows: exact scan);
* `crowded`: the same, after FILLER chunks (noisy copies of the three sets' vectors, so near neighbours
  the filter must reject) went into another collection of the same tenant, and as many into other tenants
  (each with its own model row, so its own partial index);
* `+filler`: the set's collection together with the filler collection (a large collection: the HNSW
  path), the reference being numpy over the same union; `+filler exact` the exact scan over it, and
  `+filler ef N` the filtered HNSW scan at `hnsw.ef_search = N`.

Per line: how often dense's top 10 equals numpy's (same ids, same order), the mean overlap of the top 10
and of the whole list (DEPTH deep), R@1/5/10 of both rankings where a set has gold, and p50 ms.

Run:  .venv/bin/python bench/dense_exactness.py [--filler 20000] [--sets norrvik,squad-en,squad-sv]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared"), str(ROOT / "local")]

from sqlalchemy import text  # noqa: E402

from bench.scratchdb import scratch_database  # noqa: E402
from eneo.retrieval.service import DEPTH  # noqa: E402
from eneo.retrieval.vector import dense_search, hnsw_search  # noqa: E402

KS = (1, 5, 10)


@dataclass(frozen=True)
class _Model:
    id: uuid.UUID
    dimensions: int


@dataclass
class Stored:
    name: str
    tenant: uuid.UUID
    group: uuid.UUID
    model: uuid.UUID
    gold: list[frozenset[uuid.UUID]]
    queries: np.ndarray


async def _vectors(tenant: uuid.UUID, groups: list[uuid.UUID]) -> tuple[list[uuid.UUID], np.ndarray]:
    """The groups' chunk ids and vectors as the database holds them (float32 after pgvector's storage)."""
    from eneo.core.db import UnitOfWork

    async with UnitOfWork(tenant) as uow:
        rows = (await uow.session.execute(text(
            "SELECT id, embedding::text FROM chunks WHERE group_id = ANY(:g) AND embedding IS NOT NULL"),
            {"g": groups})).all()
    ids = [r[0] for r in rows]
    matrix = np.array([np.fromstring(r[1].strip("[]"), sep=",") for r in rows], dtype=np.float64)
    return ids, matrix


def exact_order(ids: list[uuid.UUID], matrix: np.ndarray, query: np.ndarray, depth: int) -> list[uuid.UUID]:
    """Cosine in numpy, best first; ties by id as the database breaks them."""
    cos = matrix @ query / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query))
    order = sorted(range(len(ids)), key=lambda i: (-round(float(cos[i]), 6), str(ids[i])))
    return [ids[i] for i in order[:depth]]


async def compare(label: str, stored: Stored, groups: list[uuid.UUID], exact_threshold: int | None = None,
                  ef_search: int | None = None) -> str:
    """One line: the database's ranking (dense_search, or hnsw_search at `ef_search`) against numpy's."""
    from eneo.core.db import UnitOfWork

    ids, matrix = await _vectors(stored.tenant, groups)
    model = _Model(stored.model, matrix.shape[1])
    same10, over10, over_all, seconds = 0, [], [], []
    strategies: dict[str, int] = {}
    ranks: dict[str, list[int | None]] = {"db": [], "numpy": []}
    kwargs: dict[str, Any] = {} if exact_threshold is None else {"exact_threshold": exact_threshold}
    async with UnitOfWork(stored.tenant) as uow:
        for q, gold in zip(stored.queries, stored.gold, strict=True):
            t0 = time.perf_counter()
            if ef_search is None:
                result = await dense_search(uow.session, tenant_id=stored.tenant, group_ids=groups, model=model,
                                            vector=q.tolist(), limit=DEPTH, **kwargs)
                hits, strategy = result.hits, result.strategy
            else:
                hits = await hnsw_search(uow.session, tenant_id=stored.tenant, group_ids=groups, model=model,
                                         vector=q.tolist(), limit=DEPTH, ef_search=ef_search)
                strategy = f"hnsw ef_search={ef_search}"
            seconds.append(time.perf_counter() - t0)
            strategies[strategy] = strategies.get(strategy, 0) + 1
            db = [h.chunk_id for h in hits]
            truth = exact_order(ids, matrix, q, DEPTH)
            same10 += db[:10] == truth[:10]
            over10.append(len(set(db[:10]) & set(truth[:10])) / 10)
            over_all.append(len(set(db) & set(truth)) / max(1, len(truth)))
            for key, found in (("db", db), ("numpy", truth)):
                ranks[key].append(next((i for i, c in enumerate(found, 1) if c in gold), None))
    n = len(stored.gold)
    recall = {key: "/".join(f"{sum(1 for r in rs if r is not None and r <= k) / n:.3f}" for k in KS)
              for key, rs in ranks.items()}
    return (f"  {label:<14} top10 same {same10 / n:6.3f}  overlap@10 {statistics.mean(over10):6.3f}  "
            f"overlap@{DEPTH} {statistics.mean(over_all):6.3f}  R@1/5/10 db {recall['db']} numpy {recall['numpy']}  "
            f"p50 {1000 * statistics.median(seconds):6.1f} ms  {strategies}")


async def add_filler(tenant: uuid.UUID, model: uuid.UUID, space: uuid.UUID, source: np.ndarray, count: int,
                     seed: int) -> uuid.UUID:
    """A collection of `count` noisy copies of `source`'s vectors (near neighbours of the sets' questions)."""
    from eneo.core.db import UnitOfWork
    from eneo.retrieval.vector import vector_literal
    from tests.fixtures.corpus.seed import add_document, create_group

    rng = np.random.default_rng(seed)
    picks = source[rng.integers(0, len(source), count)]
    noisy = picks + rng.normal(0, 0.03, picks.shape)
    noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
    async with UnitOfWork(tenant) as uow:
        s = uow.session
        group = await create_group(s, tenant, space, model, name="filler")
        blob, _ = await add_document(s, tenant_id=tenant, group_id=group, model_id=model, title="Filler",
                                     passages=[], vectors=[])
        await s.execute(text("SET LOCAL statement_timeout = 0"))
        for start in range(0, count, 1000):
            await s.execute(text(
                "INSERT INTO chunks (id, tenant_id, group_id, info_blob_id, chunk_index, text, token_count, "
                "embedding, embedding_model_id, created_at) VALUES (gen_random_uuid(), :t, :g, :b, :i, 'filler', 1, "
                "CAST(:v AS vector), :m, now())"),
                [{"t": tenant, "g": group, "b": blob, "i": start + i, "v": vector_literal(v), "m": model}
                 for i, v in enumerate(noisy[start:start + 1000])])
        await s.execute(text("UPDATE info_blobs SET chunks_total = :n, chunks_embedded = :n, embedding_model_id = :m "
                             "WHERE id = :b"), {"n": count, "m": model, "b": blob})
    return group


async def run(sets: list[str], filler: int, efs: list[int]) -> None:
    from bench import qa_sets
    from eneo.core.db import UnitOfWork, dispose_engine
    from eneo.embeddings import LOCAL_MODEL_NAME, local_embedder
    from eneo.tenants.schemas import TenantCreate
    from eneo.tenants.service import create_tenant
    from tests.fixtures.corpus.seed import create_space, local_model, questions, seed_corpus

    embedder = local_embedder()

    async def tenant() -> uuid.UUID:
        async with UnitOfWork(sysadmin=True) as uow:
            return (await create_tenant(uow, TenantCreate(name=f"exact-{uuid.uuid4().hex[:8]}"))).id

    main = await tenant()
    stored: list[Stored] = []
    for name in sets:
        async with UnitOfWork(main) as uow:
            if name == "norrvik":
                seeded = await seed_corpus(uow.session, main, embedder.embed)
                group, model = seeded.group_id, seeded.model_id
                cases = [(q.q, frozenset({seeded.chunk_ids[(q.doc, q.passage)]})) for q in questions()]
            else:
                qa = qa_sets.load(name)
                vectors = await qa_sets.embed_cached(embedder.embed, [c[2] for c in qa.chunks], LOCAL_MODEL_NAME)
                group, model = await qa_sets.store(uow.session, main, qa, vectors)
                cases = [(q.q, frozenset(qa.chunk_ids[i] for i in q.gold)) for q in qa.questions]
        queries = await qa_sets.embed_cached(embedder.embed, [c[0] for c in cases], LOCAL_MODEL_NAME)
        stored.append(Stored(name, main, group, model, [c[1] for c in cases], np.array(queries)))
    print(f"dense search (DEPTH {DEPTH}) against numpy's exact cosine")
    for s in stored:
        print(f"{s.name} ({len(s.gold)} questions)")
        print(await compare("default", s, [s.group]))
    if filler <= 0:
        await dispose_engine()
        return
    everything = np.vstack([(await _vectors(main, [s.group]))[1] for s in stored])
    async with UnitOfWork(main) as uow:
        space = await create_space(uow.session, main, name="filler")
        model = await local_model(uow.session, main)
    t0 = time.perf_counter()
    crowd = await add_filler(main, model, space, everything, filler, seed=1)
    for i in range(2):  # other tenants: their own model rows, so their own partial HNSW indexes
        other = await tenant()
        async with UnitOfWork(other) as uow:
            other_space = await create_space(uow.session, other)
            other_model = await local_model(uow.session, other)
        await add_filler(other, other_model, other_space, everything, filler // 2, seed=2 + i)
    print(f"\n{filler} filler chunks in another collection, {filler} in two other tenants "
          f"({time.perf_counter() - t0:.0f} s)")
    for s in stored:
        rows = len((await _vectors(main, [s.group]))[0])
        print(f"{s.name} ({len(s.gold)} questions; + filler: {rows + filler} rows)")
        print(await compare("crowded", s, [s.group]))
        big = [s.group, crowd]
        print(await compare("+filler", s, big, exact_threshold=0))
        print(await compare("+filler exact", s, big, exact_threshold=10 * (rows + filler)))
        for ef in efs:
            print(await compare(f"+filler ef {ef}", s, big, ef_search=ef))
    await dispose_engine()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="norrvik,squad-en,squad-sv")
    parser.add_argument("--filler", type=int, default=20000, help="noisy copies in another collection (0: none)")
    parser.add_argument("--ef", default="200,400,1000", help="hnsw.ef_search values to measure on the filler")
    args = parser.parse_args()
    with scratch_database("eneo-exact-", reuse_env=True):
        asyncio.run(run(args.sets.split(","), args.filler, [int(e) for e in args.ef.split(",") if e]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
