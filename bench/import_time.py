"""Cold import time of every function in template.yaml, against baselines measured in the same run.

A Lambda cold start pays for everything the handler module imports before the first event, so this
is the part of a cold start the code controls. Each sample is a fresh interpreter that puts the
function's CodeUri and shared/ (what the EneoLayer holds) on sys.path, sets the function's environment
from the template (parameters get their Default or a dummy: nothing connects at import time) and times
`importlib.import_module` of the handler's module with time.perf_counter. The baselines are `json`
(the interpreter's floor) and `fastapi` + `mangum` (the least an HTTP function can import); the ratio
column is against the latter. Samples are interleaved across targets so drift hits all of them alike.

Run:  .venv/bin/python bench/import_time.py [--runs 5] [--no-pyc]
--no-pyc ignores cached bytecode (a layer shipped without .pyc: Lambda's /opt is read-only); it also
recompiles the standard library, which Lambda ships compiled, so read it as an upper bound.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from eneo_local.function_imports import function_imports

BASELINE = "fastapi+mangum"

# Runs in the child: argv = path entries (os.pathsep-joined), modules (comma-separated), handler attribute.
CHILD = """
import importlib, sys, time
sys.path[:0] = [p for p in sys.argv[1].split(__import__("os").pathsep) if p]
modules = sys.argv[2].split(",")
start = time.perf_counter()
for name in modules:
    module = importlib.import_module(name)
elapsed = time.perf_counter() - start
if sys.argv[3]:
    getattr(module, sys.argv[3])
print(repr(elapsed))
"""


@dataclass
class Target:
    """One thing to import in a fresh interpreter, and its samples (seconds)."""

    name: str
    modules: list[str]
    path: list[Path] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    attr: str = ""
    samples: list[float] = field(default_factory=list)
    process: list[float] = field(default_factory=list)
    error: str = ""


def load_targets() -> list[Target]:
    """Every function of template.yaml (eneo_local.function_imports), as a target to sample."""
    return [Target(f.name, [f.module], list(f.path), f.env, f.attr) for f in function_imports()]


def sample(target: Target, no_pyc: bool, pycache: Path) -> None:
    """Import the target once in a fresh interpreter; record the import time and the process time."""
    flags = ["-I"]  # no user site, no PYTHON* variables: the same interpreter for every target
    if no_pyc:
        flags += ["-B", "-X", f"pycache_prefix={pycache}"]  # an empty cache that is never written
    argv = [sys.executable, *flags, "-c", CHILD, os.pathsep.join(map(str, target.path)),
            ",".join(target.modules), target.attr]
    env = {**os.environ, **target.env}
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, cwd=pycache, capture_output=True, text=True, check=False)  # noqa: S603
    wall = time.perf_counter() - start
    if result.returncode != 0:
        target.error = (result.stderr.strip().splitlines() or ["exit " + str(result.returncode)])[-1]
        return
    target.samples.append(float(result.stdout.strip().splitlines()[-1]))
    target.process.append(wall)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per target (default 5)")
    parser.add_argument("--no-pyc", action="store_true", help="compile every module from source")
    args = parser.parse_args(argv)

    baselines = [Target("json (floor)", ["json"]), Target(BASELINE, ["fastapi", "mangum"])]
    functions = load_targets()
    targets = baselines + functions
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_pyc:
            for target in targets:  # warm-up: write .pyc so the first counted run is like the others
                sample(target, False, Path(tmp))
                target.samples.clear()
                target.process.clear()
        for _ in range(args.runs):
            for target in targets:
                if not target.error:
                    sample(target, args.no_pyc, Path(tmp))

    base = statistics.median(baselines[1].samples) if baselines[1].samples else float("nan")
    mode = "no .pyc" if args.no_pyc else "with .pyc"
    print(f"Cold import, {args.runs} fresh interpreters each, Python {sys.version.split()[0]}, {mode}")
    header = f"{'function':<24}{'median ms':>11}{'min ms':>9}{'vs ' + BASELINE:>20}{'process ms':>12}"
    print(header)
    print("-" * len(header))
    failed = False
    for target in targets:
        if target.error or not target.samples:
            failed = True
            print(f"{target.name:<24}  FAILED: {target.error}")
            continue
        med = statistics.median(target.samples)
        print(f"{target.name:<24}{med * 1e3:>11.1f}{min(target.samples) * 1e3:>9.1f}"
              f"{med / base:>19.2f}x{statistics.median(target.process) * 1e3:>12.1f}")
    print("process ms: the whole fresh interpreter (start-up + import + exit), wall clock.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
