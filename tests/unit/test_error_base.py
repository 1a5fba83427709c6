"""Every error the platform raises on purpose is an EneoError: one code, message, HTTP status and retryable.

A caller (a route, a queue handler, a log line) then reads a provider's, an embedder's, a document's or a
route's failure the same way, and the HTTP status says what an API answers with, whatever the provider's
own status was.
"""

import pytest

from eneo.answers.context import QuestionTooLong
from eneo.answers.knowledge import RetrievalFailed
from eneo.core.errors import EneoError, NotFound
from eneo.embeddings import EmbeddingError, TranscriptionError
from eneo.ingestion.status import DocumentFailure
from eneo.knowledge import extract
from eneo.knowledge.extract import ExtractionError
from eneo.llm import ProviderError
from eneo.llm.errors import from_status
from eneo.sessions.service import QuestionTooLarge


@pytest.mark.parametrize(("error", "code", "http_status", "retryable"), [
    (from_status(429), "provider_rate_limited", 503, True),
    (from_status(401), "provider_auth_failed", 502, False),
    (EmbeddingError("embedding_bad_response", "no vectors", status=200), "embedding_bad_response", 502, False),
    (TranscriptionError("busy", reason="provider_unavailable", retryable=True), "transcription_failed", 503, True),
    (ExtractionError("unsupported_type", "not a document"), "unsupported_type", 415, False),
    (ExtractionError("too_large", "too big"), "too_large", 413, False),
    (ExtractionError("corrupt", "cannot be read"), "corrupt", 422, False),
    (DocumentFailure("duplicate_content", "already there"), "duplicate_content", 422, False),
    (RetrievalFailed("search failed"), "retrieval_failed", 502, False),
    (NotFound("Collection"), "not_found", 404, False),
])
def test_every_error_reads_alike(error: EneoError, code: str, http_status: int, retryable: bool) -> None:
    assert isinstance(error, EneoError)
    assert (error.code, error.http_status, error.retryable) == (code, http_status, retryable)
    assert error.message and error.message in str(error)


def test_the_provider_status_stays_apart_from_ours() -> None:
    """A provider's 429 is kept as `status` (what it said); we answer 503 (try again later)."""
    error = from_status(429, retry_after=2.0)
    assert isinstance(error, ProviderError) and (error.status, error.http_status, error.retry_after) == (429, 503, 2.0)


def test_the_two_question_limits_have_codes_of_their_own() -> None:
    too_large, too_long = QuestionTooLarge("over QUESTION_MAX_CHARS"), QuestionTooLong("does not fit the model")
    assert (too_large.code, too_large.http_status) == ("question_too_large", 413)
    assert (too_long.code, too_long.http_status) == ("question_too_long", 422)


def test_the_unused_alias_is_gone() -> None:
    assert not hasattr(extract, "ExtractError")
