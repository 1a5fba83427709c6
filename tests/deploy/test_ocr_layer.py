"""The OcrLayer recipe (layers/ocr/Makefile): Tesseract, its whole library closure with its own loader, and the
Swedish and English traineddata. The layer's wrapper must read a rendered page with nothing but the layer's
files: every library resolves inside the layer, and the text comes out."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.scans import render_page, require_tesseract, to_bytes

from . import sam

MAKEFILE = sam.ROOT / "layers" / "ocr" / "Makefile"


def test_the_ocr_layer_reads_a_swedish_page_with_its_own_libraries_only(tmp_path: Path) -> None:
    require_tesseract()
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    scratch = tmp_path / "scratch"
    shutil.copytree(MAKEFILE.parent, scratch)  # sam build runs the recipe from a copy of its folder
    out = tmp_path / "OcrLayer"
    build = [make, "-f", str(scratch / "Makefile"), "build-OcrLayer", f"ARTIFACTS_DIR={out}"]
    built = subprocess.run(build, capture_output=True, text=True, check=False)  # noqa: S603 - fixed argv, no shell
    assert built.returncode == 0, built.stderr
    assert "OcrLayer: " in built.stdout
    root = out / "tesseract"
    assert sorted(p.name for p in (root / "tessdata").iterdir()) == ["eng.traineddata", "swe.traineddata"]

    loader = [str(root / "lib" / "ld-linux.so"), "--inhibit-cache", "--library-path", str(root / "lib")]
    listed = subprocess.run([*loader, "--list", str(root / "bin" / "tesseract")],  # noqa: S603 - fixed argv
                            capture_output=True, text=True, check=True).stdout
    outside = [line for line in listed.splitlines() if "=>" in line and str(root) not in line]
    assert outside == [], outside

    page = to_bytes(render_page(["Förvaltningen besvarar skrivelsen från Östra Ägarföreningen."], height=500), "PNG")
    env = {"PATH": "/usr/bin:/bin", "OCR_LAYER_ROOT": str(root)}  # as /opt/tesseract would be on Lambda
    wrapper = [str(out / "bin" / "tesseract"), "stdin", "stdout", "-l", "swe+eng"]
    read = subprocess.run(wrapper, input=page, capture_output=True, env=env, check=True,  # noqa: S603 - fixed argv
                          timeout=120)
    assert "Östra Ägarföreningen" in read.stdout.decode()
