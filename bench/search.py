"""Search latency and recall at 100k chunks x 384 dimensions, with tenant + collection filters.

A scratch database in the embedded Postgres (pgserver, temporary folder) is migrated and filled as
the migration role: three tenants, each with its own local embedding model (so its own partial HNSW
index, built by `ensure_embedding_index` after the load, as an index on a model that has data would be).
Tenant A holds most chunks, in collections sized so that a search over some of them matches 1%, 10% and
50% of all chunks; B and C are small. Vectors are clustered (random unit centres plus noise, normalised):
recall on uniform random vectors says little, as no neighbour is much nearer than another. Every chunk
has a few words of text, so the full-text half of hybrid search has work too.

Queries run as the application role through UnitOfWork (Row-Level Security on, as in production):

* exact      exact_search: every filtered row's distance (the ground truth and the baseline);
* naive HNSW one filtered HNSW query with pgvector's default ef_search (40): what a plain query gets;
* dense      eneo.retrieval.vector.dense_search: the strategy (estimate, exact or HNSW, fallback);
* dense HNSW the same with exact_threshold=0: its HNSW path (ef_search 1000, exact fallback) at any size;
* hybrid     eneo.retrieval.service.fused_ranking: dense + full text + fusion, the search route's work.

For each: p50/p99 latency, recall@10 against exact (same query, same filter), rows returned (a filtered
HNSW scan can return fewer than k), and latency as a ratio of exact's in the same run.

Run:  .venv/bin/python bench/search.py [--chunks 100000] [--queries 100] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared"), str(ROOT / "local")]

from bench.scratchdb import scratch_database  # noqa: E402

DIMS = 384
K = 10
SHARES = (0.01, 0.10, 0.50)  # of all chunks, matched by the collection filter (tenant A)
SMALL_TENANT_CHUNKS = 2_000  # tenants B and C each
NOISE = 0.04  # per dimension: noise of norm ~0.8 around unit centres, so clusters are real
WORDS = [f"w{i}" for i in range(5000)]


@dataclass
class Tenant:
    id: uuid.UUID
    model_id: uuid.UUID
    groups: dict[str, list[uuid.UUID]] = field(default_factory=dict)  # filter name -> collections
    chunks: int = 0


@dataclass(frozen=True)
class Model:
    id: uuid.UUID
    dimensions: int = DIMS


def clustered(rng: np.random.Generator, n: int, centres: np.ndarray, noise: float) -> np.ndarray:
    picks = rng.integers(0, len(centres), n)
    x = centres[picks] + rng.normal(0, noise, (n, centres.shape[1])).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def load(owner_url: str, total: int, seed: int) -> tuple[Tenant, list[Tenant], np.ndarray]:
    """Tenants, spaces, models, collections and chunks, loaded with COPY (binary vectors) as the owner."""
    import psycopg
    from pgvector.psycopg import register_vector

    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1, (200, DIMS)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    url = owner_url.replace("postgresql+psycopg://", "postgresql://")
    big_chunks = total - 2 * SMALL_TENANT_CHUNKS
    # Collections of tenant A: the 1%, 10% and 50% filters each select their own collections.
    sizes = {"1%": int(total * SHARES[0]), "10%": int(total * SHARES[1]), "50%": int(total * SHARES[2])}
    sizes["rest"] = big_chunks - sum(sizes.values())
    with psycopg.connect(url, autocommit=True) as conn:
        register_vector(conn)
        tenants = []
        for name, n in (("A", big_chunks), ("B", SMALL_TENANT_CHUNKS), ("C", SMALL_TENANT_CHUNKS)):
            t = Tenant(uuid.uuid4(), uuid.uuid4(), chunks=n)
            space = uuid.uuid4()
            conn.execute("INSERT INTO tenants (id, created_at, updated_at, name, state) "
                         "VALUES (%s, now(), now(), %s, 'active')", (t.id, f"bench-{name}-{t.id.hex[:6]}"))
            conn.execute("INSERT INTO spaces (id, created_at, updated_at, tenant_id, name, description, personal) "
                         "VALUES (%s, now(), now(), %s, 'bench', '', false)", (space, t.id))
            conn.execute("INSERT INTO embedding_models (id, created_at, updated_at, tenant_id, provider_id, name, "
                         "dimensions, max_input_tokens, enabled, is_default, managed) VALUES (%s, now(), now(), %s, "
                         "NULL, 'all-MiniLM-L6-v2', %s, 256, true, true, true)", (t.model_id, t.id, DIMS))
            plan = sizes if name == "A" else {"all": n}
            rows_per_group = 2_500  # collections of 2,500 chunks: filters name several of them
            for filt, count in plan.items():
                t.groups[filt] = []
                for start in range(0, count, rows_per_group):
                    group, blob = uuid.uuid4(), uuid.uuid4()
                    t.groups[filt].append(group)
                    conn.execute("INSERT INTO groups (id, created_at, updated_at, tenant_id, space_id, name, "
                                 "description, embedding_model_id) VALUES (%s, now(), now(), %s, %s, 'g', '', %s)",
                                 (group, t.id, space, t.model_id))
                    n_rows = min(rows_per_group, count - start)
                    conn.execute(
                        "INSERT INTO info_blobs (id, created_at, updated_at, tenant_id, group_id, title, filename, "
                        "declared_type, object_key, status, chunks_total, chunks_embedded, attempts, "
                        "embedding_model_id) VALUES (%s, now(), now(), %s, %s, 'doc', 'doc.txt', 'text/plain', %s, "
                        "'ready', %s, %s, 1, %s)",
                        (blob, t.id, group, f"tenants/{t.id}/groups/{group}/blobs/{blob}", n_rows, n_rows,
                         t.model_id))
                    vectors = clustered(rng, n_rows, centres, noise=NOISE)
                    words = rng.integers(0, len(WORDS), (n_rows, 12))
                    with conn.cursor().copy(
                            "COPY chunks (id, tenant_id, group_id, info_blob_id, chunk_index, text, token_count, "
                            "embedding, embedding_model_id, created_at) FROM STDIN WITH (FORMAT BINARY)") as copy:
                        copy.set_types(["uuid", "uuid", "uuid", "uuid", "int4", "text", "int4", "vector", "uuid",
                                        "timestamptz"])
                        created = datetime.now(UTC)
                        for i in range(n_rows):
                            copy.write_row((uuid.uuid4(), t.id, group, blob, i,
                                            " ".join(WORDS[w] for w in words[i]), 12, vectors[i], t.model_id,
                                            created))
            tenants.append(t)
        conn.execute("SET maintenance_work_mem = '1GB'")
        for t in tenants:
            t0 = time.perf_counter()
            conn.execute("SELECT set_config('app.tenant_id', %s, false)", (str(t.id),))
            conn.execute("SELECT ensure_embedding_index(%s, %s)", (t.model_id, DIMS))
            print(f"  HNSW index of tenant {t.id.hex[:6]} ({t.chunks} chunks) built in "
                  f"{time.perf_counter() - t0:.1f} s", flush=True)
        conn.execute("VACUUM ANALYZE chunks")
    return tenants[0], tenants[1:], centres


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def timed(fn: Callable[[], Awaitable[Any]]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    result = await fn()
    return result, (time.perf_counter() - t0) * 1000


async def measure(tenant: Tenant, group_ids: list[uuid.UUID], queries: np.ndarray, label: str) -> None:
    from eneo.core.db import UnitOfWork
    from eneo.retrieval.service import fused_ranking
    from eneo.retrieval.vector import dense_search, exact_search, hnsw_search

    model = Model(tenant.model_id)
    args: dict[str, Any] = {"tenant_id": tenant.id, "group_ids": group_ids, "model": model}
    times: dict[str, list[float]] = {m: [] for m in ("exact", "naive HNSW", "dense", "dense HNSW", "hybrid")}
    recall: dict[str, list[float]] = {m: [] for m in times}
    rows: dict[str, list[int]] = {m: [] for m in times}
    strategies: dict[str, int] = {}
    forced_strategies: dict[str, int] = {}
    async with UnitOfWork(tenant.id) as uow:
        s = uow.session
        for n, q in enumerate(queries):
            v = q.tolist()
            truth, t_exact = await timed(lambda v=v: exact_search(s, **args, vector=v, limit=K))
            naive, t_naive = await timed(lambda v=v: hnsw_search(s, **args, vector=v, limit=K, ef_search=40))
            dense, t_dense = await timed(lambda v=v: dense_search(s, **args, vector=v, limit=K))
            forced, t_forced = await timed(lambda v=v: dense_search(s, **args, vector=v, limit=K, exact_threshold=0))
            hybrid, t_hybrid = await timed(lambda v=v, n=n: fused_ranking(
                s, tenant_id=tenant.id, group_ids=group_ids, query_text=f"{WORDS[n]} {WORDS[n * 7 % 5000]}",
                query_vector=v, embedding_model=model, limit=K))
            if n < 3:  # warm-up (caches, plans): not counted
                continue
            want = {h.chunk_id for h in truth}
            strategies[dense.strategy] = strategies.get(dense.strategy, 0) + 1
            forced_strategies[forced.strategy] = forced_strategies.get(forced.strategy, 0) + 1
            for name, hits, ms in (("exact", truth, t_exact), ("naive HNSW", naive, t_naive),
                                   ("dense", dense.hits, t_dense), ("dense HNSW", forced.hits, t_forced),
                                   ("hybrid", hybrid, t_hybrid)):
                ids = {h.chunk_id for h in hits}
                times[name].append(ms)
                rows[name].append(len(hits))
                if name != "hybrid":  # fusion reorders on purpose: its recall against exact is not the point
                    recall[name].append(len(ids & want) / max(1, len(want)))
    base = statistics.median(times["exact"])
    print(f"\n{label}  ({len(times['exact'])} queries, k={K}; dense strategy used: {strategies}; "
          f"with no exact threshold: {forced_strategies})")
    print(f"  {'method':<11}{'p50 ms':>9}{'p99 ms':>9}{'x exact':>9}{'recall@10':>11}{'rows':>7}")
    for name in times:
        r = f"{statistics.mean(recall[name]):.3f}" if recall[name] else "  -"
        print(f"  {name:<11}{statistics.median(times[name]):9.2f}{pct(times[name], 99):9.2f}"
              f"{statistics.median(times[name]) / base:9.2f}{r:>11}{statistics.mean(rows[name]):7.1f}")


async def run(args: argparse.Namespace, big: Tenant, small: list[Tenant], centres: np.ndarray) -> None:
    from eneo.core.db import dispose_engine

    rng = np.random.default_rng(args.seed + 1)
    queries = clustered(rng, args.queries + 3, centres, noise=NOISE)
    for share in ("1%", "10%", "50%"):
        groups = big.groups[share]
        await measure(big, groups, queries, f"tenant A, collections with {share} of all {args.chunks} chunks "
                                            f"({len(groups)} collections)")
    await measure(big, [g for gs in big.groups.values() for g in gs], queries,
                  f"tenant A, all its collections ({big.chunks} chunks)")
    await measure(small[0], small[0].groups["all"], queries,
                  f"tenant B, all its collections ({small[0].chunks} chunks)")
    await dispose_engine()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database folder")
    args = parser.parse_args()
    with scratch_database("eneo-search-bench-", keep=args.keep) as owner:
        t0 = time.perf_counter()
        big, small, centres = load(owner, args.chunks, args.seed)
        print(f"loaded {args.chunks} chunks x {DIMS} dims in {time.perf_counter() - t0:.0f} s", flush=True)
        asyncio.run(run(args, big, small, centres))
        return 0


if __name__ == "__main__":
    sys.exit(main())
