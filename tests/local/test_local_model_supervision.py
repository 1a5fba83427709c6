"""The local stack supervises the model server: checked with a real completion, restarted when it dies.

The server here is a stand-in (fixtures/fake_llama_server.py: llama_cpp.server's arguments, `/v1/models`,
a one-token completion), started by the real LocalModelServer as it starts the real one. The real model is
killed and restarted end to end in tests/e2e/test_local_model_restart.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from eneo_local import local_model
from eneo_local.local_model import LocalModelServer, RestartPolicy
from eneo_local.stack import LocalStack, StackConfig

FAKE_SERVER = Path(__file__).parent / "fixtures" / "fake_llama_server.py"
QUICK = RestartPolicy(first_delay=0.05, max_delay=1.0, max_restarts=3, window=60.0)


@pytest.fixture
def control(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The stand-in replaces `python -m llama_cpp.server`; the folder whose files steer it."""
    folder = tmp_path / "control"
    folder.mkdir()
    python = tmp_path / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_SERVER}" "$@"\n')
    python.chmod(0o755)
    monkeypatch.setenv("FAKE_LLAMA_DIR", str(folder))
    monkeypatch.setattr(local_model, "sys", SimpleNamespace(executable=str(python)))
    return folder


@pytest.fixture
def servers() -> Iterator[list[LocalModelServer]]:
    """Servers a test made; stopped at the end whatever happened."""
    made: list[LocalModelServer] = []
    yield made
    for server in made:
        server.stop()


def started(control: Path) -> list[tuple[float, int]]:
    """(time, pid) of each start of the stand-in."""
    path = control / "starts"
    lines = path.read_text().split("\n") if path.exists() else []
    return [(float(t), int(p)) for t, p in (line.split() for line in lines if line)]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie (exited, not yet reaped) counts as gone
        return stat.read().split(")")[-1].split()[0] != "Z"


def answers(server: LocalModelServer) -> bool:
    try:
        r = httpx.post(f"{server.base_url}/chat/completions", json={"messages": [], "max_tokens": 1}, timeout=2)
    except httpx.HTTPError:
        return False
    return r.status_code == 200


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> float:
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < seconds, "timed out"
        time.sleep(0.02)
    return time.monotonic() - began


def new_server(tmp_path: Path, servers: list[LocalModelServer], policy: RestartPolicy = QUICK) -> LocalModelServer:
    server = LocalModelServer(tmp_path / "model.gguf", tmp_path / "logs" / "local-model.log", restart=policy)
    servers.append(server)
    return server


def test_a_server_that_dies_at_its_first_completion_is_not_offered(tmp_path: Path, control: Path,
                                                                  servers: list[LocalModelServer]) -> None:
    """It lists its model, so `/v1/models` alone would have offered it; the first question then killed it."""
    (control / "crash_on_completion").touch()
    server = new_server(tmp_path, servers)
    with pytest.raises(RuntimeError) as failed:
        server.start()
    assert "first completion" in str(failed.value) and "SIGSEGV" in str(failed.value)
    assert str(server.log_file) in str(failed.value), "the error says where to look"
    [(_, pid)] = started(control)
    assert not alive(pid)


@pytest.fixture
def impostor() -> Iterator[Callable[[int], None]]:
    """Another process's model server, taking a port the way one can between its choice and the bind:
    it answers `/v1/models` and every completion, as a second local stack's model server would."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Answers(BaseHTTPRequestHandler):
        def _ok(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            body = b'{"object": "list", "data": [{"id": "m"}], "choices": [{"index": 0}]}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _ok

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    made: list[ThreadingHTTPServer] = []

    def take(port: int) -> None:
        made.append(ThreadingHTTPServer(("127.0.0.1", port), Answers))
        threading.Thread(target=made[-1].serve_forever, daemon=True).start()

    yield take
    for other in made:
        other.shutdown()
        other.server_close()


def test_a_port_taken_before_the_server_binds_it_is_not_mistaken_for_the_server(
        tmp_path: Path, control: Path, servers: list[LocalModelServer], impostor: Callable[[int], None]) -> None:
    """The other process answers everything; the server itself would crash at its first completion."""
    (control / "crash_on_completion").touch()
    server = new_server(tmp_path, servers)
    taken = server.port
    impostor(taken)
    with pytest.raises(RuntimeError, match=r"first completion.*SIGSEGV"):
        server.start()
    assert server.port != taken, "it moved to a free port, where its own crash showed"
    assert [alive(pid) for _, pid in started(control)] == [False, False], "both starts ended"


def test_a_server_whose_chosen_port_was_taken_starts_on_another(
        tmp_path: Path, control: Path, servers: list[LocalModelServer], impostor: Callable[[int], None]) -> None:
    server = new_server(tmp_path, servers)
    taken = server.port
    impostor(taken)
    server.start()
    [_, (_, pid)] = started(control)
    assert server.port != taken and server.pid == pid and answers(server)


def test_a_server_given_a_taken_port_says_so(tmp_path: Path, control: Path, servers: list[LocalModelServer],
                                               impostor: Callable[[int], None]) -> None:
    """A port the operator chose is not swapped behind their back: the error names it."""
    port = local_model._free_port("127.0.0.1")
    impostor(port)
    server = LocalModelServer(tmp_path / "model.gguf", tmp_path / "logs" / "local-model.log", port=port)
    servers.append(server)
    with pytest.raises(RuntimeError, match=f"could not listen on port {port}: another process holds it"):
        server.start()
    assert not any(alive(pid) for _, pid in started(control))


def test_a_killed_server_is_restarted_on_its_port_and_answers(tmp_path: Path, control: Path,
                                                              servers: list[LocalModelServer],
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "eneo_local.local_model")
    server = new_server(tmp_path, servers)
    server.start()
    server.supervise()
    url, [(_, first)] = server.base_url, started(control)

    os.kill(first, signal.SIGKILL)
    wait_for(lambda: server.restarts == 1)
    [_, (_, second)] = started(control)
    assert server.base_url == url and server.pid == second != first
    assert answers(server)
    died = next(r for r in caplog.records if r.getMessage().startswith("the local model server died"))
    assert (died.levelname, died.reason, died.log_file) == ("ERROR", "killed by SIGKILL", str(server.log_file))
    back = next(r for r in caplog.records if r.getMessage() == "the local model server is back")
    assert back.first_completion_s >= 0 and back.url == url
    assert "starts the model server" in server.log_file.read_text(), "the log marks each start"


def test_a_server_that_keeps_dying_is_restarted_with_growing_waits_then_given_up(
        tmp_path: Path, control: Path, servers: list[LocalModelServer], caplog: pytest.LogCaptureFixture) -> None:
    server = new_server(tmp_path, servers)
    server.start()
    server.supervise()
    (control / "exit_at_start").touch()
    killed = time.time()
    os.kill(server.pid or 0, signal.SIGKILL)
    wait_for(lambda: server.gave_up)

    starts = [t for t, _ in started(control)[1:]]
    assert len(starts) == QUICK.max_restarts, "bounded"
    waits = [b - a for a, b in zip([killed, *starts], starts, strict=False)]
    assert waits[0] >= 0.05 and waits[1] >= 0.1 and waits[2] >= 0.2, waits  # 0.05, 0.1, 0.2 s and the polls
    assert not any(alive(pid) for _, pid in started(control))
    assert any("keeps dying" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)


def test_stopping_ends_the_supervisor_even_while_it_waits_to_restart(tmp_path: Path, control: Path,
                                                                    servers: list[LocalModelServer]) -> None:
    server = new_server(tmp_path, servers, RestartPolicy(first_delay=30))
    server.start()
    server.supervise()
    os.kill(server.pid or 0, signal.SIGKILL)
    time.sleep(0.5)  # the supervisor has seen it and waits 30 s before the restart

    began = time.monotonic()
    server.stop()
    assert time.monotonic() - began < 3
    assert not any(t.name == "local-model-supervisor" for t in threading.enumerate())
    time.sleep(0.3)
    assert len(started(control)) == 1, "no restart behind stop()'s back"


async def test_the_stack_supervises_the_server_it_offers_and_stops_both(tmp_path: Path, control: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENEO_LOCAL_MODEL", "on")
    (tmp_path / "model.gguf").write_bytes(b"")
    monkeypatch.setattr(local_model, "gguf_path", lambda: tmp_path / "model.gguf")
    stack = LocalStack(StackConfig(data_dir=tmp_path / "data"))
    begun = stack._begin_local_model()
    assert begun is not None
    server, starting = begun
    assert await starting, "checked with a completion, then offered"
    [(_, first)] = started(control)

    os.kill(first, signal.SIGKILL)
    await asyncio.to_thread(wait_for, lambda: server.restarts == 1, 15)
    assert server.log_file == stack.data_dir / "logs" / "local-model.log"
    await stack.stop()
    assert not any(alive(pid) for _, pid in started(control))
    assert not any(t.name == "local-model-supervisor" for t in threading.enumerate())
