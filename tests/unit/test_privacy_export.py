"""The export archive's shape (eneo.privacy.export): file names that cannot escape the archive's folder, and a
document whose file is gone listed as missing rather than failing the export."""

import io
import json
import zipfile
from datetime import UTC, datetime

import pytest

from eneo.privacy.export import _safe, build_archive


@pytest.mark.parametrize(("given", "safe"), [
    ("rapport.pdf", "rapport.pdf"),
    ("../../etc/passwd", "_.._etc_passwd"),
    ("C:\\Users\\anna\\brev.docx", "C__Users_anna_brev.docx"),
    (".bashrc", "bashrc"),
    ("rad\nbrytning\t.txt", "radbrytning.txt"),
    ("", "file"),
    ("...", "file"),
])
def test_a_document_name_stays_inside_its_folder(given: str, safe: str) -> None:
    assert _safe(given) == safe
    assert "/" not in _safe(given) and not _safe(given).startswith(".")


def test_the_archive_lists_its_files_and_the_missing_documents() -> None:
    data = build_archive({"user.json": {"email": "anna@example.org"}},
                         {"documents/1/a.txt": b"text", "documents/2/b.txt": None},
                         exported_at=datetime(2026, 12, 6, tzinfo=UTC))
    archive = zipfile.ZipFile(io.BytesIO(data))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["files"] == ["documents/1/a.txt", "user.json"]
    assert manifest["missing_documents"] == ["documents/2/b.txt"]
    assert set(archive.namelist()) == {"manifest.json", "user.json", "documents/1/a.txt"}
    assert json.loads(archive.read("user.json")) == {"email": "anna@example.org"}
