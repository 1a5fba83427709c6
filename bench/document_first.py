"""Which DOCUMENT_SURE, chosen on half of the questions, and what does it do on the other half?

eneo.retrieval.fusion gives the first place to dense's best document when that document's best chunk is
at least DOCUMENT_SURE (cosine) ahead of every other document's. This replays the fusion on the lists
bench/retrieval_eval.py dumps (the real dense and full-text lists of each question) for each candidate
value and for the rule switched off, on the even-numbered questions of every set and on the odd ones.
A value is chosen on the even half: it may lower no figure of any set against the rule switched off, and
among those it has the best sum of R@1 over the sets. Its figures on the odd half are then printed
beside the rule switched off and dense alone.

Run:  .venv/bin/python bench/retrieval_eval.py --wikiqa WikiQA-test.tsv --dump lists.json
      .venv/bin/python bench/retrieval_eval.py --sets norrvik --wikiqa WikiQA-train.tsv --dump train.json
      .venv/bin/python bench/document_first.py lists.json train.json:-train
(`FILE:SUFFIX` renames the sets of one dump, so the two dumps' `wikiqa` sets stay apart.)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared")]

from bench.fusion_split import Figures, figures, measure, show  # noqa: E402

CANDIDATES = (0.04, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2)
OFF = math.inf  # no margin is that large: the rule never fires


def load(args: list[str]) -> dict[str, list[dict[str, Any]]]:
    sets: dict[str, list[dict[str, Any]]] = {}
    for arg in args:
        path, _, suffix = arg.partition(":")
        for name, entries in json.loads(Path(path).read_text()).items():
            if name + suffix in sets:
                raise SystemExit(f"two dumps hold the set {name + suffix}: give one of them a :SUFFIX")
            sets[name + suffix] = entries
    return sets


def lowers_nothing(found: Figures, off: Figures) -> bool:
    return all(found[s][i] >= off[s][i] - 1e-9 for s in found for i in range(4))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dumps", nargs="+", help="files bench/retrieval_eval.py --dump wrote (FILE or FILE:SUFFIX)")
    sets = load(parser.parse_args().dumps)
    halves = [{s: e[h::2] for s, e in sets.items()} for h in (0, 1)]
    dense = [{s: figures(e, "dense") for s, e in half.items()} for half in halves]
    off = [measure(half, {"DOCUMENT_SURE": OFF}) for half in halves]
    found = {t: measure(halves[0], {"DOCUMENT_SURE": t}) for t in CANDIDATES}
    print("R@1/R@5/R@10/MRR per set, even half (choosing)")
    print(show("dense", dense[0]))
    print(show("rule off", off[0]))
    for t, f in found.items():
        print(show(f"DOCUMENT_SURE {t}{'' if lowers_nothing(f, off[0]) else ' (lowers a figure)'}", f))
    allowed = [t for t, f in found.items() if lowers_nothing(f, off[0])]
    if not allowed:
        print("no candidate keeps every figure on the choosing half")
        return 1
    chosen = max(allowed, key=lambda t: (sum(v[0] for v in found[t].values()), -t))
    held = measure(halves[1], {"DOCUMENT_SURE": chosen})
    print(f"\nodd half (held out), DOCUMENT_SURE {chosen} chosen")
    print(show("dense", dense[1]))
    print(show("rule off", off[1]))
    print(show(f"DOCUMENT_SURE {chosen}{'' if lowers_nothing(held, off[1]) else ' (lowers a figure)'}", held))
    return 0


if __name__ == "__main__":
    sys.exit(main())
