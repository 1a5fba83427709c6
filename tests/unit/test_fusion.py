"""The fusion of the dense and the full-text ranking (eneo.retrieval.fusion)."""

from __future__ import annotations

import dataclasses
import itertools
import uuid

from eneo.retrieval.fusion import (
    DENSE_BASE,
    DOCUMENT_SURE,
    dense_weight,
    document_margin,
    fuse,
    is_keyword_query,
)
from eneo.retrieval.lexical import LexicalHit
from eneo.retrieval.vector import Scored


def test_the_only_chunk_holding_a_keyword_leads_over_the_dense_lists_guess() -> None:
    """A search for an identifier (a case number, a code) that one chunk alone contains finds that chunk
    first, even when the dense model, which knows identifiers least, is sure of another chunk and does not
    list the right one at all."""
    guess, other, holder = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    dense = [Scored(guess, 0.60), Scored(other, 0.30)]  # sure of its document (margin 0.3)
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


def test_sibling_chunks_of_one_document_do_not_make_the_dense_list_unsure() -> None:
    """Two overlapping chunks of one document score alike by construction: the dense list's confidence is
    how far its document is ahead of the next *document*, so a wordy chunk of another document that shares
    the question's everyday words does not push the dense list's answer down (the held-out set's misses)."""
    doc_a, doc_b = uuid.uuid4(), uuid.uuid4()
    answer, sibling, elsewhere, wordy = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    dense = [Scored(answer, 0.71, doc_a), Scored(sibling, 0.70, doc_a), Scored(elsewhere, 0.45, doc_b)]
    lexical = [LexicalHit(wordy, 4.0, matched=3, terms=7), LexicalHit(elsewhere, 3.9, matched=3, terms=7),
               LexicalHit(answer, 2.0, matched=2, terms=7)]

    assert document_margin(dense) == 0.71 - 0.45
    assert dense_weight(dense, lexical) > DENSE_BASE + 0.25
    fused = fuse(dense, lexical, limit=3)

    assert fused[0].chunk_id == answer
    assert fused[0].dense_rank == 1 and fused[0].lexical_rank == 3


def test_a_flat_dense_list_lets_full_text_lead() -> None:
    """Where the dense list cannot tell documents apart (a Swedish question to an English-trained model),
    the chunk full text is sure of comes first."""
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    dense = [Scored(a, 0.40, uuid.uuid4()), Scored(b, 0.39, uuid.uuid4()), Scored(c, 0.38, uuid.uuid4())]
    lexical = [LexicalHit(c, 8.0, matched=4, terms=5), LexicalHit(a, 1.0, matched=1, terms=5)]

    assert fuse(dense, lexical, limit=3)[0].chunk_id == c


def test_one_list_alone_keeps_its_order_and_scores_in_zero_one() -> None:
    ids = [uuid.uuid4() for _ in range(3)]
    dense = [Scored(i, s, uuid.uuid4()) for i, s in zip(ids, (0.8, 0.5, 0.05), strict=True)]
    lexical = [LexicalHit(i, s, matched=1, terms=2) for i, s in zip(ids, (6.0, 3.0, 1.0), strict=True)]
    for fused in (fuse(dense, [], limit=3), fuse([], lexical, limit=3)):
        assert [f.chunk_id for f in fused] == ids
        assert fused[0].score == 1.0 and all(0.0 <= f.score <= 1.0 for f in fused)
    assert fuse(dense, [], limit=3)[2].score == 0.0  # below the floor: no evidence


def test_the_first_hits_are_the_same_whatever_the_limit() -> None:
    """The first 10 of a page of 100 are the page of 10, ties included (documents of several chunks, equal
    scores in both lists): a page size never reorders the results."""
    docs = [uuid.uuid4() for _ in range(20)]
    ids = [uuid.uuid4() for _ in range(100)]
    dense = [Scored(c, round(0.8 - i // 3 * 0.01, 2), docs[i % 20]) for i, c in enumerate(ids)]
    lexical = [LexicalHit(c, float(12 - i // 4), matched=2, terms=6) for i, c in enumerate(reversed(ids))]

    pages = {limit: [f.chunk_id for f in fuse(dense, lexical, limit)] for limit in (10, 100)}

    assert len(pages[100]) == 100
    assert pages[10] == pages[100][:10]
    assert pages[10] == [f.chunk_id for f in fuse(dense, lexical, 10)]  # and the same again


def test_dense_lists_first_answer_stays_in_the_first_four_when_full_text_matches_one_word_everywhere() -> None:
    """WikiQA's misses: "when did ww1 end?" matches "end" in many chunks of other documents, none the
    answer, and by the weights alone those pushed dense's first hit to sixth place."""
    answer, second = uuid.uuid4(), uuid.uuid4()
    dense = [Scored(answer, 0.64, uuid.uuid4()), Scored(second, 0.55, uuid.uuid4())]  # margin 0.09: unsure
    one_word = [uuid.uuid4() for _ in range(5)]
    lexical = [LexicalHit(c, 3.0, matched=1, terms=2) for c in one_word]

    fused = fuse(dense, lexical, limit=10)

    ids = [f.chunk_id for f in fused]
    assert ids[:4] == [*one_word[:2], answer, second], "both lists' first two, in fused order"
    assert ids[4:] == one_word[2:]
    assert all(a.score >= b.score for a, b in itertools.pairwise(fused)), "scores never rise"


def test_full_texts_first_two_stay_in_the_first_four_under_a_sure_dense_list() -> None:
    docs = [uuid.uuid4() for _ in range(8)]
    dense_ids = [uuid.uuid4() for _ in range(8)]
    dense = [Scored(c, s, d) for c, s, d in zip(dense_ids, (0.9, 0.5, 0.49, 0.48, 0.47, 0.46, 0.45, 0.44), docs,
                                                strict=True)]
    exact, near = uuid.uuid4(), uuid.uuid4()
    lexical = [LexicalHit(exact, 9.0, matched=5, terms=5), LexicalHit(near, 8.0, matched=4, terms=5)]

    ids = [f.chunk_id for f in fuse(dense, lexical, limit=10)]

    assert set(ids[:4]) == {dense_ids[0], dense_ids[1], exact, near}
    assert ids[0] == dense_ids[0] and ids[4:] == dense_ids[2:]


def test_a_short_question_is_not_a_keyword_query_and_a_sure_dense_list_keeps_its_answer() -> None:
    """"when did texas become a state": three content words, all in one chunk, like a case number, but
    asked with stop words: a question, so full text does not get the lead it gets for typed keywords."""
    answer, elsewhere, wordy = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    dense = [Scored(answer, 0.68, uuid.uuid4()), Scored(elsewhere, 0.45, uuid.uuid4()), Scored(wordy, 0.30)]
    asked = [LexicalHit(wordy, 7.3, matched=3, terms=3, possible=7.3, stop_words=2),
             LexicalHit(answer, 2.0, matched=1, terms=3, possible=7.3, stop_words=2)]
    typed = [dataclasses.replace(h, stop_words=0) for h in asked]

    assert not is_keyword_query(asked) and is_keyword_query(typed)
    assert dense_weight(dense, asked) > 0.5 > dense_weight(dense, typed)
    assert fuse(dense, asked, limit=2)[0].chunk_id == answer
    assert fuse(dense, typed, limit=2)[0].chunk_id == wordy


def test_one_word_of_several_counts_as_a_share_of_the_whole_query() -> None:
    """When no chunk holds more than one of the query's words ("what is a google in math": "google"
    everywhere, "math" in none of those), each counts by its share of the whole query's rarity, and dense's
    third hit, the answer, is not pushed below chunks that only share a name with the question."""
    doc = uuid.uuid4()
    first, second, answer = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    dense = [Scored(first, 0.58, doc), Scored(second, 0.54, doc), Scored(answer, 0.52, doc),
             *(Scored(uuid.uuid4(), 0.37 - i * 0.01, uuid.uuid4()) for i in range(3))]
    name_only = [LexicalHit(h.chunk_id, 5.0, matched=1, terms=2, possible=12.6, stop_words=3) for h in dense[3:]]
    name_only += [LexicalHit(uuid.uuid4(), 5.0, matched=1, terms=2, possible=12.6, stop_words=3) for _ in range(4)]

    scores = {f.chunk_id: f.score for f in fuse(dense, name_only, limit=20)}
    ids = [f.chunk_id for f in fuse(dense, name_only, limit=20)]

    assert ids.index(answer) < 5, ids.index(answer)
    assert max(scores[h.chunk_id] for h in name_only[3:]) < scores[answer]
    both_words = [dataclasses.replace(name_only[0], score=12.6, matched=2), *name_only[1:]]
    ids = [f.chunk_id for f in fuse(dense, both_words, limit=2)]
    assert ids == [first, name_only[0].chunk_id], "a full match leads all but dense's sure document"


def test_full_text_chooses_among_the_chunks_of_a_document_dense_is_sure_of_but_not_the_document() -> None:
    """WikiQA's train split: where dense's best document is clearly ahead of every other, a chunk of
    another document holding more of the question's everyday words ("what does the president of the usa
    do") took the first place in 23 questions and gave it back in 8. Now the first hit comes from dense's
    document; which of its chunks is still fused (full text found the answer in the second one)."""
    doc_a, doc_b = uuid.uuid4(), uuid.uuid4()
    opening, answer, elsewhere = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    lexical = [LexicalHit(elsewhere, 6.0, matched=3, terms=3, possible=6.0, stop_words=4),
               LexicalHit(answer, 4.8, matched=2, terms=3, possible=6.0, stop_words=4),
               LexicalHit(opening, 1.8, matched=1, terms=3, possible=6.0, stop_words=4)]

    def first_two(next_document: float) -> list[uuid.UUID]:
        dense = [Scored(opening, 0.67, doc_a), Scored(answer, 0.62, doc_a), Scored(elsewhere, next_document, doc_b)]
        return [f.chunk_id for f in fuse(dense, lexical, limit=2)]

    assert 0.67 - 0.55 >= DOCUMENT_SURE > 0.67 - 0.60
    assert first_two(0.55) == [answer, elsewhere], "sure of the document: full text picks its chunk"
    assert first_two(0.60) == [elsewhere, answer], "not sure: the weighted sum decides, as before"
    typed = [dataclasses.replace(h, stop_words=0, terms=1, matched=1) for h in lexical[:1]]
    dense = [Scored(opening, 0.67, doc_a), Scored(elsewhere, 0.30, doc_b)]
    assert fuse(dense, typed, limit=1)[0].chunk_id == elsewhere, "a keyword's only holder still leads"
