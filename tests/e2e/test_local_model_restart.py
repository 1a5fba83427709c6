"""The real local model (SmolLM2 on llama-cpp-python's server) killed mid-answer comes back by itself.

The server is SIGKILLed while it streams an answer, as a crash would end it. That answer ends at once
with `local_model_unavailable` (keeping the part that arrived) and names the server's log; a question
asked while the server is down fails the same way without waiting (the choice documented in
docs/local-model.md); the stack restarts the server on the same port, checks it with a completion, and
the next question is answered. It shares the session's stack (it leaves the model running again).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from tests.e2e.actors import Actor, login
from tests.e2e.test_streaming import ask, follow, open_ws, text_of

pytestmark = pytest.mark.e2e
MODEL = "SmolLM2-135M-Instruct"


@pytest.fixture(scope="module")
def http(stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=60) as client:
        yield client


def server_pid(port: int) -> int | None:
    """The running llama_cpp.server listening on `port` (the stack starts it in a session of its own)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"llama_cpp.server" in argv and b"--port" in argv and argv[argv.index(b"--port") + 1] == str(port).encode():
            return int(proc.name)
    return None


def completes(base_url: str) -> bool:
    try:
        r = httpx.post(f"{base_url}/chat/completions", timeout=10, json={
            "model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1})
    except httpx.HTTPError:
        return False
    return r.status_code == 200


def test_a_killed_local_model_fails_clearly_then_comes_back_and_answers(http: httpx.Client, stack) -> None:
    if "local_model_url" not in stack.endpoints:
        pytest.skip("the stack runs no local model (the local-model extra is not installed)")
    base_url = stack.endpoints["local_model_url"]
    port = urlparse(base_url).port
    assert port is not None
    pid = server_pid(port)
    assert pid is not None, "the model server's process"
    log_file = str(stack.data_dir.resolve() / "logs" / "local-model.log")

    admin = Actor("", stack.admin_email, login(http, stack.admin_email, stack.admin_password))
    personal = next(s for s in http.get("/api/v1/spaces/", headers=admin.headers).json()["items"] if s["personal"])
    assistant = http.post(f"/api/v1/spaces/{personal['id']}/applications/assistants/", headers=admin.headers,
                          json={"name": "Local, killed", "system_prompt": "You are a helpful assistant.",
                                "model_kwargs": {"max_tokens": 400, "temperature": 0}})
    assert assistant.status_code == 201, assistant.text
    sessions = f"/api/v1/assistants/{assistant.json()['id']}/sessions/"

    # Killed mid-answer: that stream ends at once, with what arrived kept and the log named; a question
    # asked while the server is down fails the same way, without waiting for the restart.
    long = ask(http, admin, sessions, "Write a long story about a lighthouse keeper and the sea.")
    with open_ws(stack, admin) as ws:
        began = follow(ws, long, stop_after=2, timeout=120)
        assert [f["type"] for f in began] == ["first_chunk", "text"], began
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        rest = follow(ws, long, last_id=began[-1]["id"], timeout=60)
    down = ask(http, admin, sessions, "Are you there?")  # now: `complete` has a warm instance free
    with open_ws(stack, admin) as ws:
        frames = follow(ws, down, timeout=60)
    failed_after = time.monotonic() - killed
    end = rest[-1]
    assert (end["type"], end["code"], end["partial"]) == ("error", "local_model_unavailable", True), end
    assert log_file in end["message"]
    text_of(began + rest)
    assert (frames[-1]["type"], frames[-1]["code"], frames[-1]["partial"]) == (
        "error", "local_model_unavailable", False), frames[-1]
    assert log_file in frames[-1]["message"]
    saved = http.get(f"/api/v1/questions/{down}/", headers=admin.headers).json()
    assert (saved["status"], saved["error"]["code"]) == ("failed", "local_model_unavailable")

    # Back by itself, on the same port, and answering.
    deadline = killed + 90
    while not completes(base_url):
        assert time.monotonic() < deadline, f"the model server did not come back:\n{stack.output()[-3000:]}"
        time.sleep(0.2)
    back = time.monotonic() - killed
    assert server_pid(port) not in (None, pid)
    again = ask(http, admin, sessions, "What is the capital of France?")
    with open_ws(stack, admin) as ws:
        frames = follow(ws, again, timeout=120)
    assert frames[-1]["type"] == "done", frames[-1]
    assert text_of(frames).strip(), "the model said something"
    answered = time.monotonic() - killed
    output = stack.output()
    assert "the local model server died; restarting it" in output and "killed by SIGKILL" in output
    assert "the local model server is back" in output
    print(f"\nkill → down-question failed {failed_after:.1f} s, server answering {back:.1f} s, "
          f"question answered {answered:.1f} s")
