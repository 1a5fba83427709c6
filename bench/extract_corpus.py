"""Ingestion's extraction over a folder of real files: what each became, and how long it took.

Our fixtures are files we made; outside checks upload files other programs made. This runs detection and
extraction (eneo.knowledge.extract, as the ingest function does) on every file under a folder, each in a
child process with a time limit, and prints one line per file and a summary: read, refused by code (a
precise refusal is fine: an empty template, a password), and the failures that are ours to fix: a crash
(an exception other than ExtractionError), a hang, or a process that died. Public corpora that were used
(each brought with the `fetch` tool, files copied out of the repository's git objects):

    py-pdf/sample-files (PDF, images; CC BY-SA 4.0)     tafia/calamine tests/ (XLSX, ODS; MIT)
    python-openxml/python-docx, scanny/python-pptx test files (MIT)   eea/odfpy examples (Apache-2.0)
    adbar/trafilatura tests/cache, tests/eval (HTML pages)

    .venv/bin/python bench/extract_corpus.py FOLDER [--timeout 120] [--quiet]

Ratio against a baseline: the summary gives the extraction time of all files against the time to read
their bytes and detect their type alone, measured in the same run.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "shared"))

from eneo.knowledge.extract import ExtractionError, detect, extract, is_audio


def _one(path: Path, out: mp.Queue) -> None:
    data = path.read_bytes()
    started = time.perf_counter()
    try:
        kind = detect(data, path.name)
        detected = time.perf_counter() - started
        if is_audio(kind):
            out.put(("audio", kind.value, 0, detected, detected))
            return
        extracted = extract(data, kind)
        out.put(("read", kind.value, len(extracted.text), detected, time.perf_counter() - started))
    except ExtractionError as exc:
        out.put(("refused", exc.code, 0, 0.0, time.perf_counter() - started))
    except Exception as exc:  # what this tool looks for: reported, not raised
        out.put(("CRASH", type(exc).__name__, 0, 0.0, time.perf_counter() - started))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per file before it counts as a hang")
    parser.add_argument("--quiet", action="store_true", help="print only the summary")
    args = parser.parse_args()
    outcomes: Counter[str] = Counter()
    detect_times, total_times = [], []
    for path in sorted(p for p in args.folder.rglob("*") if p.is_file()):
        queue: mp.Queue = mp.Queue()
        child = mp.Process(target=_one, args=(path, queue))
        child.start()
        child.join(args.timeout)
        if child.is_alive():
            child.kill()
            result = ("HANG", "", 0, 0.0, args.timeout)
        else:
            result = queue.get() if not queue.empty() else ("DIED", str(child.exitcode), 0, 0.0, 0.0)
        state, what, chars, detected, took = result
        outcomes[f"{state} {what}" if state != "read" else "read"] += 1
        if state == "read":
            detect_times.append(detected)
            total_times.append(took)
        if not args.quiet:
            print(f"{state:8} {what:16} {chars:>9} chars {took:7.2f} s  {path.relative_to(args.folder)}")
    print(f"\n{sum(outcomes.values())} files")
    for outcome, count in outcomes.most_common():
        print(f"  {count:5}  {outcome}")
    if total_times:
        print(f"extraction p50 {statistics.median(total_times) * 1000:.0f} ms, max {max(total_times):.2f} s; "
              f"all read files {sum(total_times):.1f} s = {sum(total_times) / max(sum(detect_times), 1e-9):.0f}x "
              "the time to detect their type")


if __name__ == "__main__":
    main()
