"""The EneoLayer recipe (layers/eneo/Makefile) copies the eneo package cleanly, offline.

The pip step needs a package index, so it is skipped here with SKIP_DEPS=1; what it installs is checked
by comparing the recipe's requirement list with pyproject. make runs from a scratch copy of the layer
folder, as `sam build` does, to prove the recipe does not depend on its working directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from . import sam

LAYER_DIR = sam.ROOT / "layers" / "eneo"
MAKEFILE = LAYER_DIR / "Makefile"
MAKE = shutil.which("make")

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


def test_template_builds_the_layer_with_this_recipe() -> None:
    layer = sam.load_template()["Resources"][sam.LAYER]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert (sam.ROOT / layer["Properties"]["ContentUri"]).resolve() == LAYER_DIR
    assert "build-EneoLayer:" in MAKEFILE.read_text()


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
