"""The fake LLM server, plus OpenAI's embeddings and audio transcription endpoints (real wire format).

    with FakeOpenAIExtras(dimensions=8, transcript="Hej och välkommen.") as fake:
        fake.fail(status=429, retry_after=0.01, times=2)   # the next two calls answer 429
        ... ProviderConfig from fake.provider_config("openai") ...
        assert fake.embedding_calls[-1].inputs == ["a", "b"]
        assert fake.transcription_calls[-1].filename == "call.mp3"

Serves, next to everything FakeLLMServer serves (chat, models), on the same port:
`POST /v1/embeddings`, `POST /openai/deployments/{d}/embeddings?api-version=` (Azure),
`POST /v1/audio/transcriptions` and the Azure `/openai/deployments/{d}/audio/transcriptions` (multipart).
Vectors are deterministic per text (seeded by its sha256) and deliberately not unit length, so a test
sees whether the client normalises; `vector_fn` replaces them. Failures queued with `fail()` are shared
with chat calls (the next call of any kind takes the next plan); only status failures apply here.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes import llm_wire as wire
from tests.fakes.llm_server import _KEY_HEADERS, FakeLLMServer
from tests.fakes.llm_wire import Dialect


@dataclass
class EmbeddingCall:
    path: str
    model: str | None  # the body's model (OpenAI) or the deployment (Azure)
    inputs: list[str]
    encoding_format: str | None
    key_ok: bool
    dimensions: int | None = None  # what the client asked for, if it did


@dataclass
class TranscriptionCall:
    path: str
    model: str | None
    filename: str | None
    size: int
    content_type: str | None
    key_ok: bool


def hashed_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic vector for `text`, of length 2..3 (not normalised on purpose)."""
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    vector = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    scale = (2.0 + rng.random()) / (sum(x * x for x in vector) ** 0.5 or 1.0)
    return [x * scale for x in vector]


class FakeOpenAIExtras(FakeLLMServer):
    """FakeLLMServer with embeddings and transcriptions; a context manager like it."""

    def __init__(self, *, dimensions: int = 384, vector_fn: Callable[[str], list[float]] | None = None,
                 transcript: str = "This is the transcript.", **options: Any) -> None:
        super().__init__(**options)
        self.dimensions = dimensions
        self.vector_fn = vector_fn
        self.transcript = transcript
        self.reverse = False  # answer the vectors in reverse order (each keeps its index), as servers may
        self._extras_lock = threading.Lock()
        self._embedding_calls: list[EmbeddingCall] = []
        self._transcription_calls: list[TranscriptionCall] = []
        self.app.router.routes.extend([
            Route("/v1/embeddings", self._embeddings, methods=["POST"]),
            Route("/openai/deployments/{deployment}/embeddings", self._embeddings, methods=["POST"]),
            Route("/v1/audio/transcriptions", self._transcriptions, methods=["POST"]),
            Route("/openai/deployments/{deployment}/audio/transcriptions", self._transcriptions, methods=["POST"]),
        ])

    @property
    def embedding_calls(self) -> list[EmbeddingCall]:
        with self._extras_lock:
            return list(self._embedding_calls)

    @property
    def transcription_calls(self) -> list[TranscriptionCall]:
        with self._extras_lock:
            return list(self._transcription_calls)

    def reset(self) -> None:
        super().reset()
        with self._extras_lock:
            self._embedding_calls.clear()
            self._transcription_calls.clear()

    def start(self) -> FakeOpenAIExtras:
        super().start()
        return self

    def __enter__(self) -> FakeOpenAIExtras:
        return self.start()

    def vector(self, text: str) -> list[float]:
        """The vector the fake answers for `text` (before the client normalises it)."""
        return self.vector_fn(text) if self.vector_fn else hashed_vector(text, self.dimensions)

    # --- serving -----------------------------------------------------------------------------

    def _dialect(self, request: Request) -> Dialect:
        return "azure" if "deployment" in request.path_params else "openai"

    def _key_ok(self, request: Request, dialect: Dialect) -> bool:
        sent = [request.headers[h].removeprefix(prefix) for h, prefix in _KEY_HEADERS[dialect] if h in request.headers]
        return bool(sent) and (self.api_key is None or self.api_key in sent)

    def _refusal(self, request: Request, dialect: Dialect, key_ok: bool, model: str | None) -> Response | None:
        """The error this call gets (Azure without api-version, bad key, a queued failure, unknown model)."""
        if dialect == "azure" and "api-version" not in request.query_params:
            return wire.error_response("azure", 404, "404")
        if not key_ok:
            return wire.error_response(dialect, 401, "invalid_api_key" if dialect == "openai" else "401")
        plan = self._next_plan()
        if plan is not None and plan.kind == "status":
            return wire.error_response(dialect, plan.status, plan.error_type, plan.retry_after)
        if not model:
            return wire.error_response(dialect, 400, "invalid_request_error")
        if self.models is not None and model not in self.models:
            return wire.error_response(dialect, 404, "DeploymentNotFound" if dialect == "azure" else "model_not_found")
        return None

    async def _embeddings(self, request: Request) -> Response:
        dialect = self._dialect(request)
        try:
            body = await request.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        raw = body.get("input")
        inputs = [raw] if isinstance(raw, str) else [x for x in raw or [] if isinstance(x, str)]
        model = request.path_params.get("deployment") or body.get("model")
        key_ok = self._key_ok(request, dialect)
        with self._extras_lock:
            asked = body.get("dimensions") if isinstance(body.get("dimensions"), int) else None
            self._embedding_calls.append(EmbeddingCall(request.url.path, model, inputs, body.get("encoding_format"),
                                                       key_ok, asked))
        if (refusal := self._refusal(request, dialect, key_ok, model)) is not None:
            return refusal
        if not inputs or any(not text for text in inputs):  # like OpenAI: '$.input' is invalid
            return wire.error_response(dialect, 400, "invalid_request_error")
        # Like text-embedding-3: `dimensions` keeps the first n components (our embedder normalises).
        data = [{"object": "embedding", "index": i, "embedding": self.vector(text)[:asked or None]}
                for i, text in enumerate(inputs)]
        if self.reverse:
            data.reverse()
        tokens = sum(len(text.split()) for text in inputs)
        return JSONResponse({"object": "list", "data": data, "model": model,
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    async def _transcriptions(self, request: Request) -> Response:
        dialect = self._dialect(request)
        form = await request.form()
        upload = form.get("file")
        size, filename, content_type = 0, None, None
        if isinstance(upload, UploadFile):
            size, filename, content_type = len(await upload.read()), upload.filename, upload.content_type
        field = form.get("model")
        model = request.path_params.get("deployment") or (field if isinstance(field, str) else None)
        key_ok = self._key_ok(request, dialect)
        with self._extras_lock:
            self._transcription_calls.append(TranscriptionCall(request.url.path, model, filename, size, content_type,
                                                               key_ok))
        if (refusal := self._refusal(request, dialect, key_ok, model)) is not None:
            return refusal
        if not size:
            return wire.error_response(dialect, 400, "invalid_request_error")
        return JSONResponse({"text": self.transcript})
