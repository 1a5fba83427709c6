"""The direct upload's multipart form, read and checked before any use case runs.

At the edge because it is about HTTP: a request whose declared length is over the largest limit is
refused before its body is read, the file is read to one byte past that limit and no further, and the
client's file name and media type are kept as text Postgres can store.
"""

from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.requests import Request

from eneo.core.errors import ValidationFailed
from eneo.core.settings import Settings
from eneo.core.text import printable, storable
from eneo.knowledge.language import LANGUAGES
from eneo.knowledge.limits import accepted_for, largest_limit, too_large

FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the small fields around the file


@dataclass(frozen=True)
class UploadForm:
    data: bytes
    filename: str
    declared_type: str | None
    title: str | None
    language: str | None = None


async def read_upload_form(request: Request, settings: Settings) -> UploadForm:
    """`file` (required), `title` (optional, 1 to 500 characters) and `language` (optional: sv, en, other):
    422 for a missing file, a bad title or language, 413 for a file over the largest limit (or the declared
    type's, when the client named one)."""
    limit = largest_limit(settings)
    declared_length = request.headers.get("content-length", "")
    if declared_length.isdigit() and int(declared_length) > limit + FORM_OVERHEAD:
        raise too_large(None, settings)
    form = await request.form(max_files=1, max_fields=5)
    try:
        file, title, language = form.get("file"), form.get("title"), form.get("language")
        if not isinstance(file, UploadFile):
            raise ValidationFailed("Invalid request: file: required (multipart/form-data)",
                                   details=[{"field": "file", "message": "required", "type": "missing"}])
        if title is not None and (not isinstance(title, str) or not 0 < len(title.strip()) <= 500
                                  or not storable(title)):
            raise ValidationFailed("Invalid request: title: 1 to 500 characters",
                                   details=[{"field": "title", "message": "1 to 500 characters",
                                             "type": "value_error"}])
        if language is not None and language not in LANGUAGES:
            raise ValidationFailed("Invalid request: language: one of sv, en, other",
                                   details=[{"field": "language", "message": "one of sv, en, other",
                                             "type": "literal_error"}])
        data = await file.read(limit + 1)
        filename = printable(file.filename or "")[:255].strip() or "document"
        declared = printable(file.content_type or "")[:200] or None
        if len(data) > limit:
            raise too_large(accepted_for(declared, filename), settings)
    finally:
        await form.close()
    return UploadForm(data=data, filename=filename, declared_type=declared,
                      title=title.strip() if isinstance(title, str) else None,
                      language=language if isinstance(language, str) else None)
