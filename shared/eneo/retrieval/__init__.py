"""Retrieval: dense search per embedding model (filtered HNSW handled), full text, and their gated fusion.

    hits = await search(session, tenant_id=..., group_ids=[...], query_text=q, query_vector=v,
                        embedding_model=model, limit=10)
    hits = await retrieve_for_question(session, tenant_id=..., group_ids=[...], question=q, history=[...])
"""

from eneo.retrieval.service import Hit, question_query, retrieve_for_question, search

__all__ = ["Hit", "question_query", "retrieve_for_question", "search"]
