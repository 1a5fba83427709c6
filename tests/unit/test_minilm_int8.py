"""The int8 MiniLM (the local embedder's default) stays close to the reference and ranks like it; the
multilingual built-in answers Swedish questions that MiniLM cannot tell apart."""

import json
import math
import uuid
from pathlib import Path

import numpy as np
import pytest

from eneo.embeddings import MULTILINGUAL_DIMENSIONS, EmbeddingError, embedder_for, local_embedder
from eneo.embeddings.e5 import e5_embedder
from eneo.embeddings.minilm_int8 import FLOAT32_TOKENS, MiniLMInt8, quantise_columns

REFERENCE = json.loads((Path(__file__).parents[1] / "fixtures" / "minilm_reference.json").read_text())
ITEMS = REFERENCE["items"]


def cosine(a: list[float], b: list[float]) -> float:
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    return dot / math.sqrt(math.fsum(x * x for x in a) * math.fsum(y * y for y in b))


@pytest.fixture(scope="module")
def int8() -> MiniLMInt8:
    return MiniLMInt8(threads=1)


def test_local_embedder_runs_int8_by_default() -> None:
    from eneo.embeddings import local

    local_embedder().load()
    assert isinstance(local.model(), MiniLMInt8)
    assert local.model() is local.model()


def test_preload_builds_the_model_the_first_embed_uses() -> None:
    """The embed function preloads at init (functions/embed/app.py): the model the first document's chunks
    meet is already built, and it is the one that embeds."""
    from eneo.embeddings import local, minilm_int8

    assert local.preload() is True
    loaded = minilm_int8._model
    assert loaded is not None and local.model() is loaded
    [vector] = local_embedder().encode([ITEMS[-1]["text"] or "text"])
    assert len(vector) == loaded.dimensions


@pytest.mark.parametrize("index", range(len(ITEMS)), ids=[i["text"][:30] or "<empty>" for i in ITEMS])
def test_vectors_stay_close_to_the_reference(int8: MiniLMInt8, index: int) -> None:
    """Short texts (questions) take the float32 layers and match to 1e-4; longer ones, int8, to cosine 0.9975
    (0.9965 with symmetric activations, whose error cost Swedish R@10 2.4 points)."""
    [vector] = int8.encode([ITEMS[index]["text"]]).tolist()
    exact = ITEMS[index]["tokens"] <= FLOAT32_TOKENS
    assert cosine(vector, ITEMS[index]["vector"]) >= (0.9999 if exact else 0.9975)
    assert math.sqrt(math.fsum(x * x for x in vector)) == pytest.approx(1.0, abs=1e-5)


def test_the_fixture_has_texts_on_both_paths() -> None:
    assert {item["tokens"] <= FLOAT32_TOKENS for item in ITEMS} == {True, False}


def test_int8_ranks_the_reference_texts_as_float32_does(int8: MiniLMInt8) -> None:
    """For every reference text, the nearest other text is the same with int8 and with the reference."""
    texts = [i["text"] for i in ITEMS if i["text"]]
    ours = int8.encode(texts)
    theirs = np.array([i["vector"] for i in ITEMS if i["text"]], dtype=np.float32)
    away = np.eye(len(texts), dtype=np.float32) * 2  # a text is not its own neighbour
    assert (ours @ ours.T - away).argmax(axis=1).tolist() == (theirs @ theirs.T - away).argmax(axis=1).tolist()


def test_a_text_gets_the_same_vector_whatever_its_batch(int8: MiniLMInt8) -> None:
    """Activations are quantised per token row: padding and batch-mates change nothing, and order is kept."""
    texts = [i["text"] for i in ITEMS][::-1] * 2
    together = int8.encode(texts)
    for text, vector in zip(texts, together, strict=True):
        assert cosine(vector.tolist(), int8.encode([text])[0].tolist()) >= 0.9999


def test_quantised_columns_round_trip_within_half_a_step() -> None:
    weight = np.random.default_rng(3).normal(size=(64, 8)).astype(np.float32)
    weight[:, 5] = 0  # a column of zeros keeps a usable scale
    quantised, scale = quantise_columns(weight)
    assert quantised.dtype == np.int8 and scale.shape == (8,) and (scale > 0).all()
    assert (np.abs(quantised * scale - weight) <= scale / 2 + 1e-6).all()
    assert np.abs(quantised).max() == 127


class Row:
    def __init__(self, name: str, dimensions: int, provider_id: uuid.UUID | None = None) -> None:
        self.name, self.dimensions, self.provider_id = name, dimensions, provider_id


def test_factory_gives_the_multilingual_builtin_by_name() -> None:
    assert embedder_for(Row("multilingual-e5-small", MULTILINGUAL_DIMENSIONS), None) is e5_embedder()
    with pytest.raises(EmbeddingError) as info:
        embedder_for(Row("multilingual-e5-small", 768), None)
    assert info.value.code == "embedding_misconfigured"


async def test_multilingual_model_matches_swedish_questions_to_their_answers() -> None:
    """Three Swedish passages and a question for each: e5 puts every question nearest its own passage."""
    passages = ["Ansökan om bygglov lämnas till byggnadsnämnden, som fattar beslut inom tio veckor.",
                "Skolmaten serveras mellan klockan elva och tolv, och fredagar blir det fisk.",
                "Sophämtningen sker varannan vecka; grovsopor lämnas på återvinningscentralen."]
    questions = ["Hur lång tid tar det att få besked om bygglov?", "När äter eleverna lunch?",
                 "Hur ofta hämtas soporna?"]
    embedder = e5_embedder()
    p = np.array(await embedder.embed(passages))
    q = np.array(await embedder.embed(questions))
    assert p.shape == (3, MULTILINGUAL_DIMENSIONS)
    assert np.allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-4)
    assert (q @ p.T).argmax(axis=1).tolist() == [0, 1, 2]
    assert await embedder.embed([]) == []
    assert len(await embedder.embed(["", "  "])) == 2  # blank texts embed, as MiniLM's do


def test_vectors_do_not_depend_on_the_cpu(int8: MiniLMInt8) -> None:
    """On x86 CPUs without VNNI, ONNX Runtime's u8 x s8 kernel saturates pairs of products at int16; the
    session asks it to run such weights as u8 x u8 there (exact), so every x86-64 computes the same integers.
    This machine may have VNNI: what can be checked everywhere is that the session asks."""
    options = int8.session.get_session_options()
    assert options.get_session_config_entry("session.x64quantprecision") == "1"
