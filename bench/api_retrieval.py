"""Retrieval through the HTTP API, as an outside check measures it: upload, ingest, `POST …/searches/`.

`eneo-local up` on a fresh data folder (bench/localstack.py); sign in as the admin it creates; one space and
one collection on the organisation's default embedding model; every document of the set uploaded as a
Markdown file `D<n>.md` through the direct upload route (docs/knowledge.md, "Uploading") and followed to
`ready`. Then, per question, `POST /api/v1/groups/{id}/searches/` with `method` hybrid, dense and lexical
at `limit` 10 (and hybrid once more at `limit` 100: the share of questions whose first 10 differ from the
limit-10 page, which should be 0). Latency p50/p99 is each search's round trip as the client sees it.

A hit is a returned chunk whose text holds a gold sentence whole (whitespace normalised), as
bench/qa_sets.py counts it below the API. Sets:

* `wikiqa` (default): WikiQA's test split, `--wikiqa WikiQA-test.tsv` (see --help: not in the repository,
  its licence keeps it out). Each paragraph is a document `# <DocumentTitle>\\n\\n<its sentences joined by
  a space>`; `--no-heading` uploads the bare sentences (what bench/retrieval_eval.py chunks).
* `squad-en`, `squad-en2`, `squad-sv` (bench/data): each article one document, its paragraphs separated by
  blank lines (with `# <title>` first unless `--no-heading`); gold = the set's gold sentence (or, when no
  chunk of the document holds it whole, a chunk of that document holding the answer, as qa_sets does).

The chunks each document became are read back (`GET /api/v1/info-blobs/{id}/chunks/`) and compared with
the chunks bench/qa_sets.py cuts below the API. Unless `--no-below`, the same set is then measured below
the API in the same run (bench/retrieval_eval.py's measurement on a scratch database, after the stack has
stopped) and the ratio API / below is printed per method at each k.

Run:  .venv/bin/python bench/api_retrieval.py --wikiqa WikiQA-test.tsv [--no-heading]
      .venv/bin/python bench/api_retrieval.py --set squad-en2 [--no-heading]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.localstack import local_stack  # noqa: E402
from bench.qa_sets import DATA, QAQuestion, QASet, sentence_at  # noqa: E402
from bench.retrieval_eval import KS, Case, Result  # noqa: E402

METHODS = ("dense", "lexical", "hybrid")
TOP = 10
WIKIQA_SOURCE = ("WikiQA-test.tsv: WikiQA's test split (Yang, Yih and Meek 2015), from WikiQACorpus.zip, which "
                 "Microsoft Research publishes for download (6,165 rows; its licence keeps it out of this "
                 "repository). Save it anywhere and pass its path.")


def norm(text: str) -> str:
    """Whitespace runs as one space: the chunker keeps the original spacing, the gold is compared without it."""
    return " ".join(text.split())


@dataclass(frozen=True)
class Doc:
    filename: str
    title: str
    body: str

    def content(self, heading: bool) -> bytes:
        return (f"# {self.title}\n\n{self.body}" if heading else self.body).encode()


@dataclass(frozen=True)
class Question:
    q: str
    doc: str  # the gold document's file name
    gold: tuple[str, ...]  # normalised sentences, one of which a hit holds whole
    answer: str = ""  # SQuAD: the answer span, the gold when no chunk of the document holds the sentence


@dataclass
class Run:
    """What the API path gave: ranks per method, latencies, the limit check, and the chunks it made."""

    ranks: dict[str, list[int | None]] = field(default_factory=lambda: {m: [] for m in METHODS})
    seconds: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in METHODS})
    limit_differs: int = 0
    other_document: int = 0  # first hits found in a document other than the question's
    chunks: dict[str, list[str]] = field(default_factory=dict)  # file name -> chunk texts, in order
    titles: dict[str, str] = field(default_factory=dict)  # file name -> the title the API gave it
    languages: Counter[str] = field(default_factory=Counter)


def wikiqa_set(path: Path) -> tuple[list[Doc], list[Question]]:
    """Documents and questions as bench/qa_sets.load_wikiqa reads them (sentences deduplicated by id)."""
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    sentences: dict[str, dict[str, str]] = {}
    titles: dict[str, str] = {}
    correct: dict[str, tuple[str, str, list[str]]] = {}
    for r in rows:
        sentences.setdefault(r["DocumentID"], {}).setdefault(r["SentenceID"], r["Sentence"].strip())
        titles[r["DocumentID"]] = r["DocumentTitle"]
        if r["Label"] == "1":
            correct.setdefault(r["QuestionID"], (r["Question"], r["DocumentID"], []))[2].append(r["Sentence"].strip())
    docs = [Doc(f"{d}.md", titles[d], " ".join(parts.values())) for d, parts in sentences.items()]
    questions = [Question(q, f"{d}.md", tuple(norm(s) for s in gold)) for q, d, gold in correct.values()]
    return docs, questions


def squad_set(name: str) -> tuple[list[Doc], list[Question]]:
    """A bench/data SQuAD subset: each article one document of its paragraphs, blank lines between."""
    raw: dict[str, Any] = json.loads((DATA / f"{name.replace('-', '_')}.json").read_text())
    docs = {d["id"]: Doc(f"D{i}.md", d["title"], "\n\n".join(d["paragraphs"]))
            for i, d in enumerate(raw["documents"])}
    paragraphs = {(d["id"], p): t for d in raw["documents"] for p, t in enumerate(d["paragraphs"])}
    questions = [Question(q["question"], docs[q["doc"]].filename,
                          (norm(sentence_at(paragraphs[(q["doc"], q["paragraph"])], q["answer_start"])),),
                          norm(q["answer"]))
                 for q in raw["questions"]]
    return list(docs.values()), questions


class Api:
    """An httpx client signed in as the stack's first admin; signs in again when the 15-minute token ends."""

    def __init__(self, url: str, email: str, password: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=120)
        self.email, self.password = email, password
        self.headers: dict[str, str] = {}
        self.login()

    def login(self) -> None:
        r = self.http.post("/api/v1/users/login/token/", data={"username": self.email, "password": self.password})
        if r.status_code != 200:
            raise SystemExit(f"signing in as {self.email} answered {r.status_code}: {r.text[:300]}")
        self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for _ in range(5):
            r = self.http.request(method, path, headers=self.headers, **kwargs)
            if r.status_code == 401:
                self.login()
            elif r.status_code == 429:
                time.sleep(float(r.headers.get("Retry-After", "1")))
            else:
                return r
        return r

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.send(method, path, **kwargs)
        if r.status_code not in (200, 201, 202):
            raise SystemExit(f"{method} {path} answered {r.status_code}: {r.text[:300]}")
        return r.json()

    def every(self, path: str) -> list[dict[str, Any]]:
        """Every item of a paginated list."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.ok("GET", path, params={"limit": 200} | ({"cursor": cursor} if cursor else {}))
            items += page["items"]
            if not (cursor := page.get("next_cursor")):
                return items


def upload_all(api: Api, group: str, docs: list[Doc], heading: bool) -> dict[str, str]:
    """Upload each document, then poll until all are `ready`; returns blob id -> file name."""
    names: dict[str, str] = {}
    start = time.perf_counter()
    for doc in docs:
        blob = api.ok("POST", f"/api/v1/groups/{group}/info-blobs/upload/",
                      files={"file": (doc.filename, doc.content(heading), "text/markdown")})
        names[blob["id"]] = doc.filename
    print(f"{len(docs)} documents uploaded in {time.perf_counter() - start:.1f} s")
    last = 0.0
    while True:
        blobs = api.every(f"/api/v1/groups/{group}/info-blobs/")
        states = Counter(b["status"] for b in blobs)
        if failed := [b for b in blobs if b["status"] == "failed"]:
            for b in failed:
                print(f"  {b['filename']}: failed, {b['error_code']}: {b['error_message']}")
            raise SystemExit(f"{len(failed)} of {len(docs)} documents failed")
        if states["ready"] == len(docs):
            print(f"all {len(docs)} ready {time.perf_counter() - start:.1f} s after the first upload, "
                  f"{sum(b['chunks_total'] for b in blobs)} chunks")
            return names
        if time.perf_counter() - last > 5:
            last = time.perf_counter()
            counts = ", ".join(f"{s} {n}" for s, n in sorted(states.items()))
            print(f"  {time.perf_counter() - start:6.1f} s: {counts}")
        time.sleep(1)


def first_hit(items: list[dict[str, Any]], q: Question, golds: tuple[str, ...], names: dict[str, str],
              run: Run) -> int | None:
    for i, item in enumerate(items, start=1):
        text = norm(item["text"])
        if any(g in text for g in golds):
            if names.get(item["info_blob_id"]) != q.doc:
                run.other_document += 1
            return i
    return None


def search_all(api: Api, group: str, questions: list[Question], names: dict[str, str], run: Run) -> None:
    """Every question by every method (interleaved, as retrieval_eval does), timed as the client sees it."""
    path = f"/api/v1/groups/{group}/searches/"
    for m in METHODS:  # warm each path once
        api.ok("POST", path, json={"query": questions[0].q, "limit": TOP, "method": m})
    for n, q in enumerate(questions, start=1):
        doc_chunks = [norm(c) for c in run.chunks.get(q.doc, [])]
        golds = q.gold
        if q.answer and not any(g in c for c in doc_chunks for g in q.gold):
            golds = (q.answer,)  # no chunk of its document holds the sentence whole: the answer, as qa_sets
        for m in METHODS:
            t0 = time.perf_counter()
            items = api.ok("POST", path, json={"query": q.q, "limit": TOP, "method": m})["items"]
            run.seconds[m].append(time.perf_counter() - t0)
            run.ranks[m].append(first_hit(items, q, golds, names, run))
            if m == "hybrid":
                deep = api.ok("POST", path, json={"query": q.q, "limit": 100, "method": m})["items"]
                run.limit_differs += [h["chunk_id"] for h in deep[:TOP]] != [h["chunk_id"] for h in items]
        if n % 50 == 0:
            print(f"  {n}/{len(questions)} questions searched")


def run_api(docs: list[Doc], questions: list[Question], heading: bool, work: Path) -> Run:
    from eneo_local.parameters import admin_password

    run = Run()
    # Rate limits off: 1,200 requests a minute per user would otherwise pace the searches.
    env = {"RATE_LIMIT_USER_PER_MINUTE": "0", "ENEO_WORKER_ENV_PASSTHROUGH": "RATE_LIMIT_USER_PER_MINUTE"}
    with local_stack(work, env) as stack:
        password, _ = admin_password(work / "data")
        api = Api(stack.url, os.environ.get("ENEO_ADMIN_EMAIL") or "admin@example.org", password)
        space = api.ok("POST", "/api/v1/spaces/", json={"name": "API retrieval"})["id"]
        group = api.ok("POST", f"/api/v1/spaces/{space}/knowledge/groups/", json={"name": "API retrieval"})["id"]
        names = upload_all(api, group, docs, heading)
        for blob in api.every(f"/api/v1/groups/{group}/info-blobs/"):
            name = names[blob["id"]]
            run.titles[name] = blob["title"]
            run.languages[str(blob["language"])] += 1
            run.chunks[name] = [c["text"] for c in sorted(api.every(f"/api/v1/info-blobs/{blob['id']}/chunks/"),
                                                        key=lambda c: c["chunk_index"])]
        search_all(api, group, questions, names, run)
        api.http.close()
    return run


def compare_chunks(name: str, docs: list[Doc], run: Run, wikiqa: Path | None, questions: list[Question]) -> None:
    """The API's chunks against those bench/qa_sets cuts below the API: documents cut alike, and why not."""
    from bench import qa_sets

    below: dict[str, list[str]] = {}
    qa = qa_sets.load_named(name, wikiqa)
    by_id = {f"D{i}.md": doc for i, doc in enumerate(qa.titles)} if name != "wikiqa" else {
        f"{doc}.md": doc for doc in qa.titles}
    for doc, _, text in qa.chunks:
        below.setdefault(doc, []).append(text)
    same = sum(1 for d in docs if run.chunks.get(d.filename) == below.get(by_id[d.filename]))
    first_differs = sum(1 for d in docs if (run.chunks.get(d.filename) or [""])[0]
                        != (below.get(by_id[d.filename]) or [""])[0])
    api_n, below_n = sum(map(len, run.chunks.values())), len(qa.chunks)
    print(f"chunks: {api_n} through the API, {below_n} below it; documents cut exactly alike: {same} of "
          f"{len(docs)}; documents whose first chunk differs: {first_differs}")
    titled = sum(1 for d in docs if run.titles.get(d.filename) == d.title)
    print(f"titles: {titled} of {len(docs)} documents carry their own title (others: the file name); "
          f"languages detected: {dict(run.languages)}")
    unreachable = sum(1 for q in questions if not any(g in norm(c) for c in run.chunks.get(q.doc, [])
                                                       for g in q.gold))
    print(f"questions whose gold sentence no chunk of its document holds whole: {unreachable} "
          f"(below the API: {sum(1 for q in qa.questions if not q.gold) + qa.fallbacks})")


def api_chunks_set(name: str, docs: list[Doc], questions: list[Question], run: Run) -> QASet:
    """The chunks the API made, as a set to store below the API: isolates the chunking from the rest."""
    qa = QASet(f"{name}-api-chunks", {d.filename: d.title for d in docs}, [], [])
    for d in docs:
        qa.chunks += [(d.filename, i, text) for i, text in enumerate(run.chunks.get(d.filename, []))]
    texts = [norm(c[2]) for c in qa.chunks]
    for n, q in enumerate(questions):
        gold = frozenset(i for i, c in enumerate(qa.chunks) if c[0] == q.doc and any(g in texts[i] for g in q.gold))
        if not gold and q.answer:
            gold = frozenset(i for i, c in enumerate(qa.chunks) if c[0] == q.doc and q.answer in texts[i])
        qa.questions.append(QAQuestion(str(n), q.q, q.doc, gold))
    return qa


async def below_the_api(qa: QASet, label: str) -> Result:
    """bench/retrieval_eval.py's measurement of a set (chunks stored directly, vectors made in this process)."""
    import uuid

    from bench import qa_sets
    from bench.retrieval_eval import measure
    from eneo.core.db import UnitOfWork
    from eneo.embeddings import LOCAL_MODEL_NAME, local_embedder
    from eneo.tenants.schemas import TenantCreate
    from eneo.tenants.service import create_tenant

    embedder = local_embedder()
    async with UnitOfWork(sysadmin=True) as uow:
        tenant = await create_tenant(uow, TenantCreate(name=f"below-{uuid.uuid4().hex[:8]}"))
    async with UnitOfWork(tenant.id) as uow:
        vectors = await qa_sets.embed_cached(embedder.embed, [c[2] for c in qa.chunks], LOCAL_MODEL_NAME)
        group_id, model_id = await qa_sets.store(uow.session, tenant.id, qa, vectors)
    cases = [Case(q.q, frozenset(qa.chunk_ids[i] for i in q.gold)) for q in qa.questions]
    query_vectors = await qa_sets.embed_cached(embedder.embed, [c.q for c in cases], LOCAL_MODEL_NAME)
    return await measure(label, tenant.id, group_id, model_id, cases, query_vectors)


async def below_both(name: str, wikiqa: Path | None, api_set: QASet) -> tuple[Result, Result]:
    """Below the API: the set as bench/qa_sets cuts it, and the chunks the API made (same database)."""
    from bench import qa_sets
    from eneo.core.db import dispose_engine

    try:
        return (await below_the_api(qa_sets.load_named(name, wikiqa), f"{name}, below the API (qa_sets' chunks)"),
                await below_the_api(api_set, f"{name}, below the API (the API's chunks)"))
    finally:
        await dispose_engine()


def ratios(name: str, a: Result, b: Result, methods: tuple[str, ...], label: str) -> str:
    """`a`'s R@k over `b`'s per method (1.000 = the same)."""
    head = "".join(f"{'R@' + str(k):>7}" for k in KS)
    lines = [f"{name}: {label}", f"  {'method':<8}{head}"]
    for m in methods:
        lines.append(f"  {m:<8}" + "".join(f"{a.recall(m, k) / (b.recall(m, k) or 1):7.3f}" for k in KS))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=WIKIQA_SOURCE)
    parser.add_argument("--set", default="wikiqa", choices=("wikiqa", "squad-en", "squad-en2", "squad-sv"))
    parser.add_argument("--wikiqa", type=Path, help="the set wikiqa's file, WikiQA-test.tsv (see below)")
    parser.add_argument("--no-heading", action="store_true", help="upload the bare text, without `# <title>`")
    parser.add_argument("--no-below", action="store_true", help="skip the measurement below the API")
    parser.add_argument("--verbose", action="store_true", help="each question ranked differently by the three")
    args = parser.parse_args(argv)
    if args.set == "wikiqa" and (args.wikiqa is None or not args.wikiqa.is_file()):
        parser.error(f"--set wikiqa needs --wikiqa FILE. {WIKIQA_SOURCE}")
    docs, questions = wikiqa_set(args.wikiqa) if args.set == "wikiqa" else squad_set(args.set)
    heading = not args.no_heading
    label = f"{args.set}, through the API ({'# title' if heading else 'no heading'})"
    print(f"{label}: {len(docs)} documents, {len(questions)} questions")
    with tempfile.TemporaryDirectory(prefix="eneo-bench-api-retrieval-") as tmp:
        run = run_api(docs, questions, heading, Path(tmp))
    result = Result(label, [Case(q.q, frozenset()) for q in questions], run.ranks, run.seconds, METHODS)
    print(result.table())
    print("  hybrid/dense: " + ", ".join(f"R@{k} {result.recall('hybrid', k) / (result.recall('dense', k) or 1):.3f}"
                                         for k in KS))
    print(f"  hybrid, limit 100 vs 10: the first {TOP} differ for {run.limit_differs / len(questions):.3f} "
          f"of the questions; first hits in another document than the question's: {run.other_document}")
    compare_chunks(args.set, docs, run, args.wikiqa, questions)
    if args.no_below:
        return 0
    from bench.scratchdb import scratch_database

    with scratch_database("eneo-api-below-"):
        below, same_chunks = asyncio.run(below_both(args.set, args.wikiqa, api_chunks_set(args.set, docs, questions,
                                                                                         run)))
    print(below.table())
    print(same_chunks.table())
    print(ratios(args.set, result, below, METHODS, "R@k through the API / below it, qa_sets' chunks (1 = the same)"))
    print(ratios(args.set, result, same_chunks, METHODS, "R@k through the API / below it, the API's chunks"))
    if args.verbose:
        print("questions ranked differently (dense/hybrid: API | qa_sets' chunks | the API's chunks):")
        for i, q in enumerate(questions):  # the three lists hold the questions in the same order
            seen = [(r.ranks["dense"][i], r.ranks["hybrid"][i]) for r in (result, below, same_chunks)]
            if len(set(seen)) > 1:
                print("  " + " | ".join(f"{d or '-':>2}/{h or '-':>2}" for d, h in seen) + f"  {q.doc}: {q.q}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
