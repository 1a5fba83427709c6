"""Office files that Office opens but python-docx, openpyxl and python-pptx do not, made readable.

Three kinds, all met in real files (calamine's and python-pptx's test files hold them):
* **Strict Open XML** (ISO/IEC 29500 Strict; Excel's and Word's "Strict Open XML" save option): the same parts
  under `http://purl.oclc.org/ooxml/…` namespaces instead of `http://schemas.openxmlformats.org/…/2006/…`.
  The readers find nothing in them, and a full workbook would be refused as `empty`.
* **Part names that differ from what the relationships name**: Windows path separators (`xl\\sharedStrings.xml`)
  or another case (`xl/SharedStrings.xml` for `sharedStrings.xml`). Zip names are case-sensitive, Office's
  lookup is not; the readers raise KeyError and the file would be called `corrupt`.

* **Macro-enabled and slideshow variants** (`.docm`, `.ppsx`, `.ppsm`): python-docx and python-pptx refuse a
  main part whose content type is not the plain document's. It is given the plain type; the macros
  (`vbaProject.bin`) are never read or run.

Anything else is returned as it came, without copying. The archive has passed `check_zip` first, so a rewrite
handles at most the unpacked size the limits allow.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile

_STRICT = re.compile(rb"http://purl\.oclc\.org/ooxml/([A-Za-z]+)/")
_TRANSITIONAL = rb"http://schemas.openxmlformats.org/\1/2006/"
_TARGET = re.compile(rb'Target="([^"]+)"')
_EXTERNAL = re.compile(rb'<Relationship\b[^>]*TargetMode="External"[^>]*>')
_PART_NAME = re.compile(rb'PartName="(/[^"]+)"')
_PLAIN_MAIN = {
    b"application/vnd.ms-word.document.macroEnabled.main+xml":
        b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    b"application/vnd.openxmlformats-officedocument.presentationml.slideshow.main+xml":
        b"application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
    b"application/vnd.ms-powerpoint.slideshow.macroEnabled.main+xml":
        b"application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml",
}
_VARIANT = re.compile(b"|".join(re.escape(t) for t in _PLAIN_MAIN))


def ooxml_repaired(data: bytes) -> bytes:
    """`data`, or a rewritten archive when it is Strict Open XML, names its parts differently from its
    relationships, or is a macro-enabled or slideshow variant (see the module's docstring)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
        slashed = {m.filename: m.filename.replace("\\", "/") for m in members}
        # The package's map (content types, relationships) is read once; a part over 4 MB is no map.
        maps = {slashed[m.filename]: archive.read(m) for m in members if m.file_size < 4 * 1024 * 1024 and (
            slashed[m.filename] == "[Content_Types].xml" or slashed[m.filename].endswith(".rels"))}
        strict = bool(_STRICT.search(maps.get("_rels/.rels", b"")))
        variant = bool(_VARIANT.search(maps.get("[Content_Types].xml", b"")))
        renamed = _renamed(maps, slashed)
        if not strict and not variant and all(old == new for old, new in renamed.items()):
            return data
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as fixed:
            for member in members:
                name, content = renamed[member.filename], archive.read(member)
                if strict and name.endswith((".xml", ".rels")):
                    content = _STRICT.sub(_TRANSITIONAL, content)
                if variant and name == "[Content_Types].xml":
                    content = _VARIANT.sub(lambda m: _PLAIN_MAIN[m.group(0)], content)
                fixed.writestr(name, content)
    return out.getvalue()


def _renamed(maps: dict[str, bytes], slashed: dict[str, str]) -> dict[str, str]:
    """Each member's name as the package refers to it: separators made `/`, and a name the relationships or
    the content types (`maps`, by part name) name in another case given that case."""
    wanted: set[str] = set()
    for name, xml in maps.items():
        if name == "[Content_Types].xml":
            wanted.update(p.decode("utf-8", "replace").lstrip("/") for p in _PART_NAME.findall(xml))
        else:
            wanted.update(_targets(name, xml))
    by_lower = {w.lower(): w for w in wanted}
    present = set(slashed.values())
    renamed = {}
    for old, new in slashed.items():
        target = by_lower.get(new.lower(), new)
        # Two members that differ only in case: neither is renamed onto the other.
        renamed[old] = new if new in wanted or target in present else target
    return renamed


def _targets(rels_name: str, xml: bytes) -> set[str]:
    """The parts a relationships part points at, as archive names (`word/_rels/document.xml.rels`'s
    `media/a.png` is `word/media/a.png`; a `/`-rooted target is from the archive's root)."""
    base = posixpath.dirname(posixpath.dirname(rels_name))  # the folder of the part the .rels describes
    internal = _EXTERNAL.sub(b"", xml)
    found = set()
    for raw in _TARGET.findall(internal):
        target = raw.decode("utf-8", "replace").replace("\\", "/")
        path = target.lstrip("/") if target.startswith("/") else posixpath.join(base, target)
        found.add(posixpath.normpath(path).lstrip("/"))
    return found
