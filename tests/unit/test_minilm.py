"""The numpy all-MiniLM-L6-v2 gives the vectors sentence-transformers gives (fixture made with it on torch).

The float32 model is checked to 1e-4 per component; the embedder's default, int8 encoder layers, in
test_minilm_int8.py (to cosine 0.99)."""

import asyncio
import json
import math
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from eneo.embeddings import LOCAL_DIMENSIONS, EmbeddingError, embedder_for, local_embedder

if TYPE_CHECKING:
    from eneo.embeddings import minilm

REFERENCE = json.loads((Path(__file__).parents[1] / "fixtures" / "minilm_reference.json").read_text())
ITEMS = REFERENCE["items"]
TEXTS = [item["text"] for item in ITEMS]
LONG = next(item for item in ITEMS if item["tokens"] == 256)  # truncated by the reference


def cosine(a: list[float], b: list[float]) -> float:
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(math.fsum(x * x for x in a) * math.fsum(y * y for y in b))


def norm(v: list[float]) -> float:
    return math.sqrt(math.fsum(x * x for x in v))


@pytest.fixture(scope="module")
def float32() -> "minilm.MiniLM":
    from eneo.embeddings import minilm

    return minilm.MiniLM()


@pytest.fixture(scope="module")
def vectors(float32: "minilm.MiniLM") -> list[list[float]]:
    result: list[list[float]] = float32.encode(TEXTS).tolist()
    return result


def test_fixture_covers_what_it_claims() -> None:
    assert any(item["tokens"] == REFERENCE["max_seq_length"] == 256 for item in ITEMS), "a truncated text"
    assert any(set("åäö") & set(text) for text in TEXTS)
    assert "" in TEXTS


@pytest.mark.parametrize("index", range(len(ITEMS)), ids=[t[:30] or "<empty>" for t in TEXTS])
def test_matches_reference(vectors: list[list[float]], index: int) -> None:
    assert len(vectors[index]) == LOCAL_DIMENSIONS
    assert cosine(vectors[index], ITEMS[index]["vector"]) >= 0.9999
    assert max(abs(a - b) for a, b in zip(vectors[index], ITEMS[index]["vector"], strict=True)) < 1e-4


def test_token_counts_match_reference_truncation() -> None:
    from eneo.embeddings import minilm

    assert [len(ids) for ids in minilm.load().token_ids(TEXTS)] == [item["tokens"] for item in ITEMS]


def test_vectors_are_unit_length(vectors: list[list[float]]) -> None:
    for vector in vectors:
        assert norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_text_beyond_the_limit_is_truncated_not_an_error(float32: "minilm.MiniLM") -> None:
    [longer] = float32.encode([LONG["text"] + " and then much more text" * 50]).tolist()
    assert cosine(longer, LONG["vector"]) >= 0.9999  # the extra words fall past token 256


def test_batches_keep_input_order_whatever_the_lengths() -> None:
    """Batching sorts by length; the result must come back in the caller's order, equal to one-by-one."""
    texts = [t for t in TEXTS if len(t) < 400][::-1] * 2  # lengths from 2 to 37 tokens, interleaved
    embedder = local_embedder()
    together = embedder.encode(texts)
    alone = {text: embedder.encode([text])[0] for text in set(texts)}
    assert len(together) == len(texts)
    for text, vector in zip(texts, together, strict=True):
        assert cosine(vector, alone[text]) >= 0.99999


def test_paraphrase_is_closer_than_an_unrelated_sentence() -> None:
    question, paraphrase, unrelated = local_embedder().encode([
        "How do I apply for parental leave?", "What is the procedure to request parental leave?",
        "The stock market fell sharply on Tuesday after the announcement."])
    assert cosine(question, paraphrase) > 0.7
    assert cosine(question, paraphrase) > cosine(question, unrelated) + 0.3


def test_swedish_paraphrase_beats_unrelated_swedish() -> None:
    a, b, c = local_embedder().encode(["Hur ansöker jag om bygglov?", "Ansökan om bygglov, hur gör man?",
                                        "Skolmaten på fredag är fiskpinnar."])
    assert cosine(a, b) > cosine(a, c)


async def test_async_embed_keeps_the_event_loop_free() -> None:
    embedder = local_embedder()
    embedder.load()
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    ticker = asyncio.create_task(tick())
    result = await embedder.embed([LONG["text"]] * 4)  # 4 x 256 tokens: tens of milliseconds at least
    ticker.cancel()
    assert len(result) == 4 and cosine(result[0], LONG["vector"]) >= 0.99
    assert ticks > 3, "the loop was blocked while the model ran"
    assert await embedder.embed([]) == []


def test_concurrent_first_use_loads_one_model() -> None:
    from eneo.embeddings import minilm

    models: list[object] = []
    threads = [threading.Thread(target=lambda: models.append(minilm.load())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(m) for m in models}) == 1
    assert local_embedder() is local_embedder()


class Row:
    def __init__(self, name: str, dimensions: int, provider_id: uuid.UUID | None = None) -> None:
        self.name, self.dimensions, self.provider_id = name, dimensions, provider_id


def test_factory_gives_the_local_embedder_for_a_row_without_provider() -> None:
    assert embedder_for(Row("all-MiniLM-L6-v2", 384), None) is local_embedder()
    with pytest.raises(EmbeddingError) as info:
        embedder_for(Row("all-MiniLM-L6-v2", 768), None)
    assert info.value.code == "embedding_misconfigured" and not info.value.retryable


def test_blas_threads_can_be_limited_after_numpy_is_loaded() -> None:
    """numpy's wheel bundles OpenBLAS; the embedder limits it (settings.local_embedder_threads) at load."""
    import ctypes

    from eneo.embeddings import minilm

    minilm.load()
    assert minilm.set_blas_threads(1)
    maps = Path("/proc/self/maps").read_text().splitlines()
    libraries = [line.split()[-1] for line in maps if "openblas" in line.lower() and "/" in line]
    library = ctypes.CDLL(libraries[0])
    getter = next(getattr(library, name) for name in ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads")
                  if hasattr(library, name))
    assert getter() == 1
