"""The gated fusion of the dense and the full-text ranking (eneo.retrieval.fusion)."""

from __future__ import annotations

import uuid

from eneo.retrieval.fusion import fuse
from eneo.retrieval.lexical import LexicalHit
from eneo.retrieval.vector import Scored


def test_the_only_chunk_holding_a_keyword_leads_over_the_dense_lists_guess() -> None:
    """A search for an identifier (a case number, a code) that one chunk alone contains finds that chunk
    first, even when the dense model, which knows identifiers least, is sure of another chunk and does not
    list the right one at all."""
    guess, other, holder = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    dense = [Scored(guess, 0.60), Scored(other, 0.30)]  # sure (margin 0.3): lexical weight 0
    lexical = [LexicalHit(holder, 9.2, matched=1, terms=1)]

    fused = fuse(dense, lexical, limit=3)

    assert [f.chunk_id for f in fused][:2] == [holder, guess]
    assert fused[0].lexical_rank == 1 and fused[0].dense_rank is None


def test_a_sure_dense_list_keeps_its_order_for_a_question_of_everyday_words() -> None:
    """A question whose words are common (not a keyword query) leaves a sure dense ranking as it is."""
    first, second, wordy = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    dense = [Scored(first, 0.70), Scored(second, 0.40)]
    lexical = [LexicalHit(wordy, 3.0, matched=2, terms=6), LexicalHit(second, 2.0, matched=2, terms=6)]

    assert [f.chunk_id for f in fuse(dense, lexical, limit=2)] == [first, second]
