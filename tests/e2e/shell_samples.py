"""Running a page's shell samples as a reader pastes them: its ```sh blocks, in order, in one bash with
`-euo pipefail`, and reading back the JSON bodies curl printed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.e2e.actors import Actor


def sh_blocks(markdown: str) -> list[str]:
    """The ```sh blocks of a page (or of a part of one), in order."""
    return re.findall(r"```sh\n(.*?)```", markdown, re.DOTALL)


def api_env(base_url: str, admin: Actor, **variables: str) -> dict[str, str]:
    """The variables the docs' samples take as set (docs/auth.md shows how to get them), and any others."""
    return {"API": base_url, "AUTH": f"Authorization: {admin.headers['Authorization']}",
            "JSON": "Content-Type: application/json", **variables}


def run_sh(script: str, variables: dict[str, str], cwd: Path | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`script` in bash as pasted (set -euo pipefail), with `variables` exported; it must exit 0."""
    bash = shutil.which("bash") or "/bin/bash"
    run = subprocess.run([bash, "-euo", "pipefail", "-c", script], env=os.environ | variables,  # noqa: S603
                         cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert run.returncode == 0, f"exit {run.returncode}: {run.stderr[-4000:]}"
    return run


def json_documents(text: str) -> list[Any]:
    """Every JSON object in curl's output, in order (curl adds no newline, so bodies share lines)."""
    decoder, found, at = json.JSONDecoder(), [], text.find("{")
    while at != -1:
        try:
            document, end = decoder.raw_decode(text, at)
        except json.JSONDecodeError:
            at = text.find("{", at + 1)
            continue
        found.append(document)
        at = text.find("{", end)
    return found
