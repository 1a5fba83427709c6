"""Every function against the layers it gets in template.yaml, built for real: size, import, and a smoke run.

Lambda extracts a function's layers into /opt in order (the Globals' EneoLayer first, then its own), so
the check merges the built layers the same way and runs the runtime's interpreter with only that, the
function's code and the runtime's boto3 on sys.path. Per function: the unzipped total (layers + code)
against 250 MiB; `import app` and its handler; with ModelLayer, the reference texts embedded by the local
model (cosine >= 0.99999 with tests/fixtures/minilm_reference.json); with DocumentsLayer, the fixture
documents detected, extracted and chunked; with WebPagesLayer, a fixture page's main content extracted; with
RelayLayer, that aiohttp is there; without ModelLayer, that the missing weights are reported.

Build the layers, then run it (needs python3.12, and the package index for boto3 unless --runtime):
    for L in EneoLayer DocumentsLayer ModelLayer WebPagesLayer RelayLayer; do
      make -f layers/eneo/Makefile build-$L ARTIFACTS_DIR=/tmp/layers/$L; done
    .venv/bin/python layers/check_functions.py /tmp/layers [--python python3.12] [--runtime DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "local")]

from eneo_local.function_imports import function_imports  # noqa: E402 - the same list as bench/import_time.py
from eneo_local.intrinsics import load_yaml  # noqa: E402

LIMIT_MIB = 250
# The smoke run of a function with one of these layers; a function with none checks the weights' absence.
SMOKE_KINDS = {"ModelLayer": "model", "DocumentsLayer": "documents", "WebPagesLayer": "pages", "RelayLayer": "relay"}

SMOKE = r"""
import asyncio, json, math, sys
from pathlib import Path
import app
app.handler
root, kind = Path(sys.argv[1]), sys.argv[2]
if kind == "model":
    from eneo.embeddings import local_embedder
    items = json.loads((root / "tests/fixtures/minilm_reference.json").read_text())["items"]
    vectors = asyncio.run(local_embedder().embed([item["text"] for item in items]))
    worst = min(sum(a * b for a, b in zip(v, item["vector"])) / math.sqrt(sum(b * b for b in item["vector"]))
                for v, item in zip(vectors, items))
    assert worst >= 0.99999, worst
    print(f"embedded {len(items)} texts, min cosine {worst:.7f}")
elif kind == "documents":
    from eneo.knowledge.chunking import chunk
    from eneo.knowledge.extract import detect, extract
    names = ["riktlinjer.pdf", "riktlinjer.docx", "riktlinjer.xlsx", "riktlinjer.pptx", "riktlinjer.html"]
    for name in names:
        data = (root / "tests/fixtures/documents" / name).read_bytes()
        assert chunk(extract(data, detect(data, name, None)).sections, 200, 20), name
    print(f"extracted and chunked {len(names)} documents")
elif kind == "pages":
    from eneo.crawler.extract import parse_html
    page = parse_html((root / "tests/fixtures/documents/riktlinjer.html").read_bytes(), "https://example.org/")
    assert page.title and len(page.text) > 100, page
    print(f"extracted a page: {page.title!r}, {len(page.text)} characters")
elif kind == "relay":
    import aiohttp
    print(f"aiohttp {aiohttp.__version__}")
else:
    from eneo.embeddings import minilm
    try:
        minilm.MiniLM()
    except FileNotFoundError as exc:
        assert "ModelLayer" in str(exc), exc
        print("no weights, reported as such")
    else:
        raise AssertionError("the weights are there without ModelLayer")
"""


def function_layers(template: dict[str, Any]) -> dict[str, list[str]]:
    common = [layer["Ref"] for layer in template["Globals"]["Function"].get("Layers", [])]
    return {name: common + [layer["Ref"] for layer in resource["Properties"].get("Layers", [])]
            for name, resource in template["Resources"].items() if resource["Type"] == "AWS::Serverless::Function"}


def size_mib(root: Path, skip: str = "") -> float:
    """Bytes of the files, as Lambda counts the unzipped size (MiB)."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and skip not in p.parts) / 2**20


def runtime_boto3(python_version: str, into: Path) -> Path:
    """boto3 and its dependencies as the Lambda runtime has them (pure Python wheels)."""
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target",  # noqa: S603
                    str(into), "--python-version", python_version, "--only-binary=:all:", "boto3"], check=True)
    return into


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("built", type=Path, help="folder with one built layer per subfolder (EneoLayer, ...)")
    parser.add_argument("--python", default="python3.12", help="the runtime's interpreter")
    parser.add_argument("--runtime", type=Path, help="boto3 for the runtime (default: installed in a temp dir)")
    args = parser.parse_args(argv)

    layers_of = function_layers(load_yaml(ROOT / "template.yaml"))
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        runtime = args.runtime or runtime_boto3("3.12", Path(tmp) / "runtime")
        for target in function_imports():
            layers = layers_of[target.name]
            opt = Path(tmp) / target.name
            for layer in layers:  # later layers land on top of earlier ones, as in /opt
                shutil.copytree(args.built / layer, opt, copy_function=os.link, dirs_exist_ok=True)
            total = size_mib(opt) + size_mib(target.path[0], skip="__pycache__")  # sam build copies no caches
            kind = next((SMOKE_KINDS[layer] for layer in layers if layer in SMOKE_KINDS), "none")
            env = {"PATH": os.environ.get("PATH", ""), **target.env, "PYTHONDONTWRITEBYTECODE": "1",
                   "PYTHONPATH": os.pathsep.join(map(str, [target.path[0], opt / "python", runtime]))}
            result = subprocess.run([args.python, "-c", SMOKE, str(ROOT), kind], env=env, cwd=tmp,  # noqa: S603
                                    capture_output=True, text=True, check=False)
            ok = result.returncode == 0 and total <= LIMIT_MIB
            failed += not ok
            errors = result.stderr.strip().splitlines() or ["?"]
            detail = result.stdout.strip() if result.returncode == 0 else errors[-1]
            print(f"{'ok  ' if ok else 'FAIL'} {target.name:20} {' + '.join(layers):28} {total:6.1f} MiB  {detail}")
            shutil.rmtree(opt)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
