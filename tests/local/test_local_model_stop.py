"""Stopping the stack while the local chat model still loads leaves no model server process behind.

The model server starts in its own session (Ctrl-C in the terminal does not reach it), so a stack
whose start fails, or that is stopped, during the model's load (up to 90 s) must stop it itself.
Here the server is a stand-in process that never becomes ready: a model that is still loading.
"""

import asyncio
import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from eneo_local import local_model
from eneo_local.stack import LocalStack, StackConfig


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def loading_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The model 'installed', its server a process that writes its pid and never answers; the pid file."""
    pid_file = tmp_path / "model.pid"
    script = tmp_path / "fake-python"
    script.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 60\n")
    script.chmod(0o755)
    (tmp_path / "model.gguf").write_bytes(b"")
    monkeypatch.setenv("ENEO_LOCAL_MODEL", "on")
    monkeypatch.setattr(local_model, "gguf_path", lambda: tmp_path / "model.gguf")
    monkeypatch.setattr(local_model, "sys", SimpleNamespace(executable=str(script)))
    return pid_file


def _pid(path: Path) -> int | None:
    """The pid the stand-in server wrote, if it got that far."""
    text = path.read_text().strip() if path.exists() else ""
    return int(text) if text else None


async def _wait_for(path: Path, seconds: float = 10.0) -> int:
    give_up = time.monotonic() + seconds
    while (pid := _pid(path)) is None:
        assert time.monotonic() < give_up, "the model server process did not start"
        await asyncio.sleep(0.05)
    return pid


@pytest.mark.parametrize("when", ["while it loads", "at once"])
async def test_stop_during_the_model_load_leaves_no_process(tmp_path: Path, loading_model: Path, when: str) -> None:
    stack = LocalStack(StackConfig(data_dir=tmp_path / "data"))
    begun = stack._begin_local_model()
    assert begun is not None
    _, starting = begun
    if when == "while it loads":
        await _wait_for(loading_model)

    started = time.monotonic()
    await stack.stop()  # what a failed start() runs
    assert time.monotonic() - started < 8, "stop waited for the whole model load"
    assert starting.done() and starting.result() is False  # the start gave up; nothing to register
    await asyncio.sleep(0.3)  # a process started behind stop()'s back would have written its pid by now
    pid = _pid(loading_model)
    assert pid is not None or when == "at once"  # at once: stopped before it wrote its pid, or never spawned
    assert pid is None or not _alive(pid), "the model server process survived stop()"
