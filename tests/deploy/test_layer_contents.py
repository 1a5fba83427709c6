"""What each function imports at a cold start is in the layers template.yaml gives it, offline.

The layer recipe removes distributions from EneoLayer and keeps them in the layer of the functions that
need them (layers/eneo/Makefile); the real build and its smoke run (layers/check_functions.py) need the
package index. This check needs neither: it imports each function's handler in a subprocess of this venv,
maps the modules it loaded to their distributions, and asks the recipe (`make -n`) which distributions
each layer holds. A function that imports something only another function's layer has (the crawler's
lxml once was left out of every layer the crawl function had) fails here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from eneo_local.function_imports import FunctionImport, function_imports

from . import sam

MAKEFILE = sam.ROOT / "layers" / "eneo" / "Makefile"
MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")

# The handler's own imports, mapped to distributions by the venv's metadata.
_PROBE = r"""
import importlib, json, sys
from importlib.metadata import packages_distributions
handler = sys.argv[1]
module, _, attr = handler.rpartition(".")
getattr(importlib.import_module(module), attr)
owners = packages_distributions()
print(json.dumps(sorted({d for name in list(sys.modules) for d in owners.get(name.partition(".")[0], [])})))
"""


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _recipe_line(layer: str, tool_step: str) -> set[str]:
    """The distributions named on the recipe's `layer_tool.py <tool_step>` line for a layer."""
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    result = subprocess.run(  # noqa: S603 - fixed argv
        [str(MAKE), "--no-print-directory", "-n", "-f", str(MAKEFILE), f"build-{layer}", "ARTIFACTS_DIR=/nowhere"],
        env=env, capture_output=True, text=True, check=True, timeout=60)
    script = result.stdout.replace("\\\n", " ")
    line = next(line for line in script.splitlines() if f"layer_tool.py {tool_step}" in line)
    words = line.split(f"layer_tool.py {tool_step}", 1)[1].split()[1:]  # after the site argument
    return {_normalize(word) for word in words if not word.startswith("-")}


def _imported(target: FunctionImport) -> set[str]:
    env = {"PATH": os.environ.get("PATH", ""), **target.env, "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": os.pathsep.join(map(str, target.path))}
    result = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "-c", _PROBE, f"{target.module}.{target.attr}"], env=env, cwd=str(target.path[0]),
        capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, (target.name, result.stderr[-2000:])
    return {_normalize(d) for d in json.loads(result.stdout.strip().splitlines()[-1])}


def test_every_function_finds_what_it_imports_in_its_layers() -> None:
    removed_from_eneo = _recipe_line("EneoLayer", "remove")
    kept = {layer: _recipe_line(layer, "keep") for layer in ("DocumentsLayer", "WebPagesLayer", "RelayLayer")}
    runtime = {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
    assert runtime <= removed_from_eneo  # the runtime provides them, so EneoLayer leaves them out
    layers_of = sam.function_layers(sam.load_template())
    targets = function_imports()
    with ThreadPoolExecutor(max_workers=2) as pool:
        imported = dict(zip((t.name for t in targets), pool.map(_imported, targets), strict=True))
    missing = {}
    for name, dists in imported.items():
        available = set().union(*(kept.get(layer, set()) for layer in layers_of[name]), runtime)
        if gone := (dists & removed_from_eneo) - available:
            missing[name] = sorted(gone)
    assert not missing, f"imported at a cold start but in none of the function's layers: {missing}"
    # The check can fail: the crawl and ws functions do import what only their own layers hold. (What a
    # function imports later, as the crawler does trafilatura, only the real build's smoke run sees.)
    assert "lxml" in imported["CrawlFunction"] and "aiohttp" in imported["WsFunction"]
