"""Document type detection and text extraction, bounded in time and memory for hostile files.

    doc_type = detect(data, filename, declared_type)      # on content; ExtractionError if refused
    if not is_audio(doc_type):
        extracted = extract(data, doc_type, ExtractLimits.from_settings(settings))
"""

from eneo.knowledge.extract.detect import detect, type_from_name
from eneo.knowledge.extract.run import extract
from eneo.knowledge.extract.types import (
    ACCEPTED_TYPES,
    AcceptedType,
    DocumentType,
    Extracted,
    ExtractionError,
    ExtractLimits,
    Section,
    accepted_types,
    is_audio,
)

__all__ = [
    "ACCEPTED_TYPES",
    "AcceptedType",
    "DocumentType",
    "ExtractLimits",
    "Extracted",
    "ExtractionError",
    "Section",
    "accepted_types",
    "detect",
    "extract",
    "is_audio",
    "type_from_name",
]
