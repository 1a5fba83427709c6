"""README's `follow.py`, run as a user pastes it, against the local stack: it must read a whole answer, and
carry on without a gap or a repeat when the ws function's worker dies mid-answer (the WebSocket API then
sends `{"message": "Internal server error"}`, and the sample resubscribes after the last id it kept)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_streaming import ask, make_org
from tests.fakes.llm_server import FakeLLMServer

pytestmark = pytest.mark.e2e
README = Path(__file__).resolve().parents[2] / "README.md"
SAMPLE_WS_URL = "ws://127.0.0.1:8001/live"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(token_count=40, delay=0.005) as server:
        yield server


def follow_py(stack, tmp_path: Path) -> Path:
    """The README's `follow.py` block as written; only the WebSocket URL is the test stack's (a free port)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    sample = next(b for b in blocks if "async def follow" in b)
    assert sample.count(SAMPLE_WS_URL) == 1, "the sample's WebSocket URL changed: update this test"
    path = tmp_path / "follow.py"
    path.write_text(sample.replace(SAMPLE_WS_URL, stack.ws_url))
    return path


def ws_workers(stack, code: str = "functions/ws") -> list[int]:
    """Pids of the stack's warm ws worker processes: each runs in its function's code folder, as on Lambda."""
    folder = str(Path(__file__).resolve().parents[2] / code)
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if os.readlink(proc / "cwd") == folder:
                    pids.append(int(proc.name))
            except OSError:
                continue
    return pids


def run_follow(script: Path, question: str, token: str) -> subprocess.Popen[str]:
    env = dict(os.environ) | {"Q": question, "TOKEN": token}
    return subprocess.Popen([sys.executable, str(script)], env=env, text=True,  # noqa: S603 - our sample
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_the_readme_sample_reads_a_whole_answer(stack, fake: FakeLLMServer, tmp_path: Path) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        org = make_org(http, stack, fake)
        question = ask(http, org.admin, org.sessions)
    out, err = run_follow(follow_py(stack, tmp_path), question, org.admin.token).communicate(timeout=60)
    assert err == "" and out.startswith("".join(fake.expected_tokens())), (out, err)
    assert "\nusage: {" in out


def test_the_readme_sample_survives_the_ws_worker_dying_mid_answer(stack, fake: FakeLLMServer,
                                                                   tmp_path: Path) -> None:
    fake.delay = 0.15  # 40 tokens over ~6 s: time to kill the relay in the middle
    with httpx.Client(base_url=stack.base_url, timeout=60) as http:
        org = make_org(http, stack, fake)
        question = ask(http, org.admin, org.sessions)
        proc = run_follow(follow_py(stack, tmp_path), question, org.admin.token)
        assert proc.stdout is not None
        first = proc.stdout.read(1)  # the first token has arrived: the relay is running
        assert first, proc.stderr.read() if proc.stderr else ""
        killed = ws_workers(stack)
        assert killed, "no ws worker found"
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        started = time.monotonic()
        out = proc.stdout.read()  # the same buffered reader as `first` (communicate() would skip its buffer)
        proc.wait(timeout=90)
        err = proc.stderr.read() if proc.stderr else ""
    fake.delay = 0.005
    text = first + out
    assert err == "", err
    assert text.startswith("".join(fake.expected_tokens())), f"a gap or a repeat after the kill: {text!r}"
    assert "\nusage: {" in text and time.monotonic() - started < 60
