"""What uploads may be: the accepted types with their size limits (from the extraction vocabulary), the
413/415 errors that state them, and `GET /api/v1/limits/`."""

from typing import Any

from fastapi import APIRouter

from eneo.auth.deps import CurrentUser
from eneo.core.errors import AppError
from eneo.core.settings import Settings
from eneo.core.text import human_size
from eneo.knowledge.extract.types import (
    ACCEPTED_TYPES,
    GENERIC_MEDIA_TYPES,
    AcceptedType,
    DocumentType,
    accepted_types,
    by_extension,
    by_media_type,
    media_type_of,
)

router = APIRouter(prefix="/api/v1/limits", tags=["knowledge"])

class PayloadTooLarge(AppError):
    status, code = 413, "too_large"


class UnsupportedMediaType(AppError):
    status, code = 415, "unsupported_type"


def accepted_for(declared_type: str | None, filename: str) -> AcceptedType | None:
    """The accepted type a client announces: by media type, or by extension when the media type says
    nothing (browsers send `application/octet-stream` for files they do not know)."""
    if (accepted := by_media_type(declared_type)) is not None:
        return accepted
    return by_extension(filename) if media_type_of(declared_type) in GENERIC_MEDIA_TYPES else None


def largest_limit(settings: Settings) -> int:
    return max(a.max_bytes(settings) for a in ACCEPTED_TYPES)


def too_large(accepted: AcceptedType | None, settings: Settings) -> PayloadTooLarge:
    limit = accepted.max_bytes(settings) if accepted else largest_limit(settings)
    what = f"{accepted.label} files" if accepted else "Files"
    return PayloadTooLarge(f"{what} may be at most {human_size(limit)} ({limit} bytes)",
                           details=[{"field": "file", "message": f"at most {limit} bytes", "type": "too_large",
                                     "max_bytes": limit}])


def unsupported(code: str = "unsupported_type", reason: str | None = None) -> UnsupportedMediaType:
    """A 415 whose message names the accepted types (unless `reason` does already)."""
    if reason and "accepted:" in reason.lower():
        return UnsupportedMediaType(reason[:1].upper() + reason[1:], code=code)
    accepted = ", ".join(f"{a.label} ({a.media_type})" for a in ACCEPTED_TYPES)
    message = f"{reason[:1].upper() + reason[1:] + '. ' if reason else ''}Accepted types: {accepted}"
    return UnsupportedMediaType(message, code=code)


def limits_body(settings: Settings) -> dict[str, Any]:
    return {
        "accepted_types": accepted_types(settings),
        "upload_max_bytes": settings.upload_max_bytes,
        "audio_max_bytes": settings.audio_max_bytes,
        "upload_url_expiry_seconds": settings.upload_url_expiry_seconds,
        "chunk_size_tokens": settings.chunk_size_tokens,
        "chunk_overlap_tokens": settings.chunk_overlap_tokens,
        "extract_max_pages": settings.extract_max_pages,
    }


@router.get("/")
async def get_limits(ctx: CurrentUser) -> dict[str, Any]:
    """The types uploads may have (media types, extensions, largest size each) and how text is chunked."""
    return limits_body(ctx.settings)


__all__ = ["DocumentType", "PayloadTooLarge", "UnsupportedMediaType", "accepted_for", "limits_body", "router"]
