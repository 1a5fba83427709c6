"""eneo.embeddings' provider embedders and transcription through the real openai SDK, against a fake
OpenAI/Azure server on a real socket. No database: what the ingestion pipeline notices — vectors in input
order and of unit length, batches of `max_batch`, which failures are retried here and which are left to
the queue (`retryable`), and that a provider answering another dimension is refused."""

import math
import socket
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from eneo.embeddings import EmbeddingError, TranscriptionError, embedder_for, transcribe
from eneo.llm import ProviderConfig, ProviderType, RetryPolicy
from eneo.llm.clients import close_clients
from tests.fakes.openai_extras import FakeOpenAIExtras

KEY = "sk-test-embeddings-0123456789"
FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=2.0, connect_timeout=1.0, idle_timeout=5.0)
TYPES: list[ProviderType] = ["openai", "azure", "openai_compatible"]


class Row:
    """An embedding_models row as embedder_for reads it."""

    def __init__(self, name: str = "text-embedding-3-small", dimensions: int = 16) -> None:
        self.name, self.dimensions, self.provider_id = name, dimensions, uuid.uuid4()


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAIExtras]:
    with FakeOpenAIExtras(api_key=KEY, dimensions=16, transcript="Hej och välkommen till nämnden.") as fake:
        yield fake


@pytest.fixture
async def fake(server: FakeOpenAIExtras) -> AsyncIterator[FakeOpenAIExtras]:
    server.reset()
    server.dimensions, server.vector_fn, server.models, server.reverse = 16, None, None, False
    yield server
    assert server.pending_plans == 0, "a scripted failure was never requested"
    await close_clients()


def unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector]


@pytest.mark.parametrize("kind", TYPES)
async def test_vectors_come_back_normalised_in_input_order_in_batches(fake: FakeOpenAIExtras,
                                                                      kind: ProviderType) -> None:
    texts = [f"chunk number {i} about {'budget' if i % 2 else 'schools'}" for i in range(150)]
    embedder = embedder_for(Row(), fake.provider_config(kind), retry=FAST)
    assert embedder.max_batch == 64 and embedder.dimensions == 16

    vectors = await embedder.embed(texts)

    assert len(vectors) == 150
    for text, vector in zip(texts, vectors, strict=True):
        assert vector == pytest.approx(unit(fake.vector(text)), abs=1e-9)
        assert math.fsum(x * x for x in vector) == pytest.approx(1.0)
    calls = fake.embedding_calls
    assert [len(c.inputs) for c in calls] == [64, 64, 22]
    assert [text for c in calls for text in c.inputs] == texts
    assert {c.encoding_format for c in calls} == {"float"}
    assert {c.model for c in calls} == {"text-embedding-3-small"}
    if kind == "azure":
        assert {c.path for c in calls} == {"/openai/deployments/text-embedding-3-small/embeddings"}
    else:
        assert {c.path for c in calls} == {"/v1/embeddings"}


async def test_vectors_are_matched_to_texts_by_index_not_position(fake: FakeOpenAIExtras) -> None:
    fake.reverse = True
    texts = ["first", "second", "third"]
    vectors = await embedder_for(Row(), fake.provider_config("openai"), retry=FAST).embed(texts)
    assert vectors == [pytest.approx(unit(fake.vector(t)), abs=1e-9) for t in texts]


async def test_rate_limits_and_server_errors_are_retried(fake: FakeOpenAIExtras) -> None:
    fake.fail(429, retry_after=0.01)
    fake.fail(503)
    embedder = embedder_for(Row(), fake.provider_config("openai"), retry=FAST)
    vectors = await embedder.embed(["a", "b"])
    assert len(vectors) == 2
    assert len(fake.embedding_calls) == 3


async def test_rate_limit_that_outlasts_our_retries_is_left_to_the_queue(fake: FakeOpenAIExtras) -> None:
    fake.fail(429, retry_after=0.01, times=3)
    embedder = embedder_for(Row(), fake.provider_config("openai"), retry=FAST)
    with pytest.raises(EmbeddingError) as info:
        await embedder.embed(["a"])
    assert (info.value.code, info.value.retryable, info.value.status) == ("provider_rate_limited", True, 429)
    assert len(fake.embedding_calls) == 3


async def test_a_refused_key_is_not_retried_and_not_quoted(fake: FakeOpenAIExtras) -> None:
    embedder = embedder_for(Row(), fake.provider_config("openai", api_key="sk-wrong-key-9876"), retry=FAST)
    with pytest.raises(EmbeddingError) as info:
        await embedder.embed(["a"])
    assert (info.value.code, info.value.retryable) == ("provider_auth_failed", False)
    assert len(fake.embedding_calls) == 1
    assert "sk-wrong" not in str(info.value) and info.value.__cause__ is None


async def test_unknown_model_is_not_retried(fake: FakeOpenAIExtras) -> None:
    fake.models = {"another-model"}
    embedder = embedder_for(Row(), fake.provider_config("azure"), retry=FAST)
    with pytest.raises(EmbeddingError) as info:
        await embedder.embed(["a"])
    assert (info.value.code, info.value.retryable) == ("provider_model_not_found", False)
    assert len(fake.embedding_calls) == 1


async def test_a_provider_answering_another_dimension_is_refused(fake: FakeOpenAIExtras) -> None:
    fake.dimensions = 24
    embedder = embedder_for(Row(dimensions=16), fake.provider_config("openai_compatible"), retry=FAST)
    with pytest.raises(EmbeddingError) as info:
        await embedder.embed(["a", "b"])
    assert (info.value.code, info.value.retryable) == ("embedding_dimensions_mismatch", False)
    assert "24" in info.value.message and "16" in info.value.message
    assert len(fake.embedding_calls) == 1


@pytest.mark.parametrize(("kind", "name", "sent"), [
    ("openai", "text-embedding-3-large", 8), ("azure", "text-embedding-3-small", 8),
    ("openai", "text-embedding-ada-002", None), ("openai_compatible", "text-embedding-3-small", None)])
async def test_text_embedding_3_is_asked_for_the_registered_dimensions(fake: FakeOpenAIExtras, kind: ProviderType,
                                                                        name: str, sent: int | None) -> None:
    """A row may register fewer dimensions than a text-embedding-3 model's native size; OpenAI then
    shortens the vectors. Models that do not take the parameter are not sent it."""
    embedder = embedder_for(Row(name=name, dimensions=8), fake.provider_config(kind), retry=FAST)
    if sent is None:  # the fake answers its native 16 dimensions: the row's 8 is refused, not truncated by us
        with pytest.raises(EmbeddingError) as info:
            await embedder.embed(["budget"])
        assert info.value.code == "embedding_dimensions_mismatch"
    else:
        [vector] = await embedder.embed(["budget"])
        assert vector == pytest.approx(unit(fake.vector("budget")[:8]), abs=1e-9)
    assert [c.dimensions for c in fake.embedding_calls] == [sent]


async def test_blank_texts_are_sent_as_a_space(fake: FakeOpenAIExtras) -> None:
    embedder = embedder_for(Row(), fake.provider_config("openai"), retry=FAST)
    vectors = await embedder.embed(["", "text", "   "])
    assert len(vectors) == 3
    assert fake.embedding_calls[0].inputs == [" ", "text", " "]


async def test_an_unreachable_provider_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nothing listens there
    config = ProviderConfig("openai_compatible", base_url=f"http://127.0.0.1:{port}/v1")
    embedder = embedder_for(Row(), config, retry=RetryPolicy(max_attempts=2, base_delay=0.01, connect_timeout=1.0))
    with pytest.raises(EmbeddingError) as info:
        await embedder.embed(["a"])
    assert (info.value.code, info.value.retryable) == ("provider_unreachable", True)
    await close_clients()


def test_providers_without_embeddings_or_config_are_refused_up_front() -> None:
    with pytest.raises(EmbeddingError) as info:
        embedder_for(Row(), ProviderConfig("anthropic", api_key="k"))
    assert info.value.code == "embedding_provider_unsupported"
    with pytest.raises(EmbeddingError) as info:
        embedder_for(Row(), None)
    assert info.value.code == "embedding_misconfigured"


@pytest.mark.parametrize("kind", TYPES)
async def test_transcription_round_trip(fake: FakeOpenAIExtras, kind: ProviderType) -> None:
    audio = b"ID3" + bytes(range(256)) * 40
    text = await transcribe(fake.provider_config(kind), "whisper-1", audio, "möte.mp3", retry=FAST)
    assert text == "Hej och välkommen till nämnden."
    [call] = fake.transcription_calls
    assert (call.filename, call.size, call.model) == ("möte.mp3", len(audio), "whisper-1")
    assert call.path.endswith("/audio/transcriptions")


async def test_transcription_failures_say_whether_to_try_again(fake: FakeOpenAIExtras) -> None:
    fake.fail(500, times=3)
    with pytest.raises(TranscriptionError) as info:
        await transcribe(fake.provider_config("openai"), "whisper-1", b"audio", "a.wav", retry=FAST)
    assert (info.value.code, info.value.reason, info.value.retryable) == (
        "transcription_failed", "provider_unavailable", True)
    assert len(fake.transcription_calls) == 3

    with pytest.raises(TranscriptionError) as info:
        await transcribe(fake.provider_config("openai", api_key="sk-bad"), "whisper-1", b"audio", "a.wav", retry=FAST)
    assert (info.value.reason, info.value.retryable) == ("provider_auth_failed", False)
    assert len(fake.transcription_calls) == 4
    assert isinstance(info.value, EmbeddingError)  # one except clause catches both in the pipeline
