"""A document's language, and the Postgres text-search configuration its chunks are indexed with.

Full-text search stems a Swedish document's words as Swedish ("kommunens" and "kommun" are one word), so
it has to know the language before the chunks are stored. English documents keep `simple`, measured: with
Postgres's `english` (Porter) stemming, full text alone found a little more on the public English set, but
the fused ranking found less on it and on our own (R@1 0.837 -> 0.830 and 0.611 -> 0.593, R@5 0.980 ->
0.977; "engines" and "engineering" become one word), while `simple` with the query's prefix matching
(eneo.retrieval.lexical) already finds English plurals. Swedish stemming gains on both Swedish sets
(docs/knowledge.md has the figures).

Detection counts the most common function words of each language in the first DETECT_CHARS characters:
they are most of any running text, and they are not words of the other language. Text with too few of
either (tables, lists of names, a third language) is `other`, indexed with `simple` (no stemming), which
was every document's configuration before migration 0025.
"""

from __future__ import annotations

import re
from typing import Final, Literal

Language = Literal["sv", "en", "other"]
LANGUAGES: Final[tuple[Language, ...]] = ("sv", "en", "other")
TS_CONFIGS: Final[dict[str, str]] = {"sv": "swedish"}  # "en": "english" measured worse (above)
DEFAULT_TS_CONFIG: Final = "simple"

DETECT_CHARS = 20_000  # enough words to tell; a long document's opening is its language
MIN_HITS = 5  # fewer function words than this: not running text in either language
DOMINANCE = 2.0  # one language's count must be this many times the other's

# Words that are also words of the other language ("i", "a", "man", "under", "dem") are left out.
_SWEDISH_WORDS = (
    "och att det som en på är av för med till den har de inte om ett var han hon jag vi ni men ska kan "
    "från eller så när också skall vid efter dessa detta denna alla sina sitt sin hur vad där här enligt "
    "genom mot utan får kommer även mellan hos samt vilket vilka blir eftersom")
_ENGLISH_WORDS = (
    "the and of to is in that it was for with as are be by this from or have not which their they were "
    "has been its had at also but would there these can when who will more than may should such into "
    "other our an what about")
_SWEDISH, _ENGLISH = frozenset(_SWEDISH_WORDS.split()), frozenset(_ENGLISH_WORDS.split())
_WORD = re.compile(r"[^\W\d_]+")


def detect_language(text: str) -> Language:
    """`sv`, `en`, or `other` when the text has too few function words, or as many of each language."""
    sv = en = 0
    for word in _WORD.findall(text[:DETECT_CHARS].lower()):
        sv += word in _SWEDISH
        en += word in _ENGLISH
    if max(sv, en) < MIN_HITS:
        return "other"
    if sv >= DOMINANCE * en:
        return "sv"
    if en >= DOMINANCE * sv:
        return "en"
    return "other"


def stated_language(tag: str | None) -> Language | None:
    """A file's language tag (`sv-SE`, `en_US`, `de`) as ours; None when it states none."""
    primary = re.split(r"[-_]", (tag or "").strip().lower(), maxsplit=1)[0]
    if not primary:
        return None
    return "sv" if primary in ("sv", "swe") else "en" if primary in ("en", "eng") else "other"


def document_language(text: str, stated: str | None = None) -> Language:
    """The text's language when it is clear; else the one the file states (a PDF's /Lang, a DOCX's
    language property), which settles short texts and tables. The text wins when both speak: word
    processors stamp their own default language on whatever is written."""
    detected = detect_language(text)
    return detected if detected != "other" else (stated_language(stated) or "other")


def ts_config(language: str | None) -> str:
    """The text-search configuration for a document of this language (`simple` for other or unknown)."""
    return TS_CONFIGS.get(language or "", DEFAULT_TS_CONFIG)
