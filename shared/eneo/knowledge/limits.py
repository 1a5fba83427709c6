"""What uploads may be: the accepted types with their size limits (from the extraction vocabulary), the
413/415 errors that state them, and `GET /api/v1/limits/`."""

from typing import Any

from fastapi import APIRouter

from eneo.auth.deps import CurrentUser
from eneo.core.errors import AppError
from eneo.core.settings import Settings
from eneo.knowledge.extract.types import ACCEPTED_TYPES, AcceptedType, DocumentType, accepted_types

router = APIRouter(prefix="/api/v1/limits", tags=["knowledge"])

_GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream", "application/x-unknown"}


class PayloadTooLarge(AppError):
    status, code = 413, "too_large"


class UnsupportedMediaType(AppError):
    status, code = 415, "unsupported_type"


def _media(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _extension(filename: str) -> str:
    name = filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1].lower()
    return name[name.rfind("."):] if "." in name else ""


def accepted_for(declared_type: str | None, filename: str) -> AcceptedType | None:
    """The accepted type a client announces: by media type, or by extension when the media type says
    nothing (browsers send `application/octet-stream` for files they do not know)."""
    media = _media(declared_type)
    for accepted in ACCEPTED_TYPES:
        if media == accepted.media_type or media in accepted.aliases:
            return accepted
    if media in _GENERIC_TYPES:
        ext = _extension(filename)
        for accepted in ACCEPTED_TYPES:
            if ext in accepted.extensions:
                return accepted
    return None


def largest_limit(settings: Settings) -> int:
    return max(a.max_bytes(settings) for a in ACCEPTED_TYPES)


def human_size(size: int) -> str:
    mib = size / (1024 * 1024)
    return f"{mib:g} MiB" if mib >= 1 else f"{size} bytes"


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
