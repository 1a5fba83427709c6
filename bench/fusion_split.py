"""Would other fusion constants do better on questions they were not chosen on? A grid over
eneo.retrieval.fusion's DENSE_BASE, DENSE_MAX and DENSE_FLOOR, chosen on one half of every set's
questions (even positions) and reported on the other half (odd), from the lists bench/retrieval_eval.py
dumps (the real dense and full-text lists of each question; `fuse` itself recomputes the order).

A candidate must keep hybrid >= dense at every k on every set and not lower squad-sv's or norrvik's
R@1/5/10 or MRR on the choosing half; among those the one with the best squad-en R@5, then the best sum
of all figures, is chosen, and its held-out figures are printed next to today's constants'.

Run:  .venv/bin/python bench/retrieval_eval.py --dump lists.json
      .venv/bin/python bench/fusion_split.py lists.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared")]

from eneo.retrieval import fusion  # noqa: E402
from eneo.retrieval.lexical import LexicalHit  # noqa: E402
from eneo.retrieval.vector import Scored  # noqa: E402

KS = (1, 5, 10)
GRID = {"DENSE_BASE": (0.25, 0.3, 0.35, 0.4, 0.45, 0.5), "DENSE_MAX": (0.75, 0.85, 0.95),
        "DENSE_FLOOR": (0.0, 0.1, 0.2)}
Figures = dict[str, list[float]]  # set -> R@1, R@5, R@10, MRR


def _lists(entry: dict[str, Any]) -> tuple[list[Scored], list[LexicalHit]]:
    dense = [Scored(uuid.UUID(c), s, None if d == "None" else uuid.UUID(d)) for c, s, d in entry["dense"]]
    return dense, [LexicalHit(uuid.UUID(c), s, m, t, *rest) for c, s, m, t, *rest in entry["lexical"]]


def figures(entries: Sequence[dict[str, Any]], method: str) -> list[float]:
    ranks: list[int | None] = []
    for e in entries:
        dense, lexical = _lists(e)
        order = [h.chunk_id for h in dense] if method == "dense" else [f.chunk_id for f in fusion.fuse(dense,
                                                                                                       lexical, 10)]
        gold = {uuid.UUID(g) for g in e["gold"]}
        ranks.append(next((i for i, c in enumerate(order[:10], start=1) if c in gold), None))
    n = len(ranks)
    return [sum(1 for r in ranks if r is not None and r <= k) / n for k in KS] + [
        sum(1 / r for r in ranks if r is not None) / n]


def measure(sets: dict[str, list[dict[str, Any]]], constants: dict[str, float]) -> Figures:
    saved = {k: getattr(fusion, k) for k in constants}
    try:
        for k, v in constants.items():
            setattr(fusion, k, v)
        return {name: figures(entries, "hybrid") for name, entries in sets.items()}
    finally:
        for k, v in saved.items():
            setattr(fusion, k, v)


def acceptable(hybrid: Figures, dense: Figures, today: Figures) -> bool:
    never_below_dense = all(hybrid[s][i] >= dense[s][i] for s in hybrid for i in range(3))
    others_kept = all(hybrid[s][i] >= today[s][i] - 1e-9 for s in hybrid if s != "squad-en" for i in range(4))
    return never_below_dense and others_kept


def show(label: str, f: Figures) -> str:
    return f"  {label}\n    " + "  ".join(f"{s} " + "/".join(f"{x:.3f}" for x in v) for s, v in f.items())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dump", help="the file bench/retrieval_eval.py --dump wrote")
    dumped: dict[str, list[dict[str, Any]]] = json.loads(Path(parser.parse_args().dump).read_text())
    halves = [{s: e[h::2] for s, e in dumped.items()} for h in (0, 1)]
    today = {k: getattr(fusion, k) for k in GRID}
    dense = [{s: figures(e, "dense") for s, e in half.items()} for half in halves]
    base = [measure(half, today) for half in halves]
    best: tuple[float, dict[str, float], Figures] | None = None
    for values in itertools.product(*GRID.values()):
        constants = dict(zip(GRID, values, strict=True))
        found = measure(halves[0], constants)
        if not acceptable(found, dense[0], base[0]):
            continue
        key = 10 * found.get("squad-en", [0, 0])[1] + sum(sum(v) for v in found.values())
        if best is None or key > best[0] + 1e-12:
            best = (key, constants, found)
    print("R@1/R@5/R@10/MRR per set; chosen on the even half, reported on the odd half")
    for h, label in ((0, "choosing half (even)"), (1, "held-out half (odd)")):
        print(label)
        print(show("dense", dense[h]))
        print(show(f"today {today}", base[h]))
        if best is not None:
            held = best[2] if h == 0 else measure(halves[1], best[1])
            print(show(f"chosen {best[1]}", held))
            if h == 1:
                ok = acceptable(held, dense[1], base[1])
                print(f"  chosen constants on the held-out half: {'acceptable' if ok else 'NOT acceptable'}; "
                      f"squad-en R@5 {base[1].get('squad-en', [0, 0])[1]:.3f} -> {held.get('squad-en', [0, 0])[1]:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
