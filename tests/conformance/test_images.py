"""The code SAM CLI serves is the code in the work tree: every warm container of `sam local start-api` holds,
in /opt/python/eneo, byte for byte the .py files of shared/eneo (without its tests, as the layer's recipe).

It guards against two caches that served an earlier build: SAM CLI's wrapper image (`<repository>:rapid-x86_64`,
built only when that name is missing; images.py names a repository per layer set and build), and
`sam build --cached`, which keeps EneoLayer while layers/eneo/ is unchanged (run.sh copies the package again).
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from tests.conformance.conftest import HTTP_FUNCTIONS, ROOT, Sam, SamApi
from tests.conformance.images import IMAGE_PREFIX

# The same digest on both sides: each file's path relative to the package and its bytes, sorted by path.
DIGEST = """
import hashlib, pathlib, sys
root = pathlib.Path(sys.argv[1])
digest = hashlib.sha256()
for path in sorted(p for p in root.rglob("*.py") if p.is_file()):
    digest.update(str(path.relative_to(root)).encode() + b"\\0" + path.read_bytes() + b"\\0")
print(digest.hexdigest())
"""


def _tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*.py") if p.is_file() and "tests" not in p.relative_to(root).parts):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _warm_containers() -> dict[str, str]:
    """Running containers of our layer images' wrappers: id -> image."""
    listed = subprocess.run(["docker", "ps", "--format", "{{.ID}} {{.Image}}"],  # noqa: S607
                            capture_output=True, text=True, check=True).stdout.splitlines()
    return {cid: image for cid, image in (line.split(" ", 1) for line in listed) if image.startswith(IMAGE_PREFIX)}


def test_every_warm_container_serves_the_work_trees_eneo_package(sam: Sam, sam_api: SamApi) -> None:
    expected = _tree_digest(ROOT / "shared" / "eneo")
    containers = _warm_containers()
    assert len(containers) >= len(HTTP_FUNCTIONS), f"warm containers: {containers}"
    for cid, image in containers.items():
        assert image.endswith(":rapid-x86_64"), image
        served = subprocess.run(["docker", "exec", cid, "/var/lang/bin/python3", "-c", DIGEST,  # noqa: S603, S607
                                 "/opt/python/eneo"], capture_output=True, text=True, check=True).stdout.strip()
        assert served == expected, f"{image} serves an eneo package other than shared/eneo (a stale build or wrapper)"
