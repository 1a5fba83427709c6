"""Build steps of the layer recipe (Makefile beside this file) that need more than a shell: standard library only.

The recipe runs under any Python >= 3.11 with pip (the build host's, or sam's build container), which
does not have the layer's own numpy or safetensors, so nothing here imports them.

    python layer_tool.py remove SITE DIST...     delete installed distributions (files per their RECORD)
    python layer_tool.py keep SITE DIST...       delete every installed distribution but these
    python layer_tool.py check SITE [--absent DIST...]
                                                 fail if a kept distribution needs one that is not there
    python layer_tool.py half FILE.safetensors   float32 tensors -> float16, in place
    python layer_tool.py size DIR NAME MAX_MB    print DIR's size; fail above MAX_MB
"""

from __future__ import annotations

import csv
import email.parser
import json
import re
import struct
import sys
from collections.abc import Iterable
from pathlib import Path

_HALF_CHUNK = 1 << 20  # values converted per struct call: bounded memory for any tensor size


def normalize(name: str) -> str:
    """PEP 503 name: `Python_Docx` and `python-docx` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed(site: Path) -> dict[str, Path]:
    """Normalised distribution name -> its .dist-info folder."""
    found: dict[str, Path] = {}
    for info in site.glob("*.dist-info"):
        metadata = email.parser.Parser().parsestr((info / "METADATA").read_text(encoding="utf-8"), headersonly=True)
        found[normalize(metadata["Name"])] = info
    return found


def _remove_dist(site: Path, info: Path) -> None:
    """Delete the files pip recorded for one distribution, its .dist-info, then folders left empty."""
    root = site.resolve()
    folders: set[Path] = set()
    with (info / "RECORD").open(newline="", encoding="utf-8") as record:
        for row in csv.reader(record):
            if not row:
                continue
            path = (site / row[0]).resolve()
            if root not in path.parents:  # console scripts recorded as ../../bin/x: not in the layer
                continue
            path.unlink(missing_ok=True)
            folders.update(p for p in path.parents if root in p.parents)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir():
            for cache in folder.glob("__pycache__"):
                _rmtree(cache)
            if not any(folder.iterdir()):
                folder.rmdir()
    _rmtree(info)


def _rmtree(path: Path) -> None:
    if path.is_dir():
        for child in path.iterdir():
            _rmtree(child)
        path.rmdir()
    elif path.exists():
        path.unlink()


def remove(site: Path, names: Iterable[str]) -> list[str]:
    """Remove the named distributions; returns the names that were not installed (nothing to do)."""
    dists = installed(site)
    missing = []
    for name in names:
        info = dists.get(normalize(name))
        if info is None:
            missing.append(name)
        else:
            _remove_dist(site, info)
    return missing


def keep(site: Path, names: Iterable[str]) -> list[str]:
    """Remove every distribution but the named ones; returns the named ones that were not installed."""
    wanted = {normalize(n) for n in names}
    dists = installed(site)
    for name, info in dists.items():
        if name not in wanted:
            _remove_dist(site, info)
    return sorted(wanted - dists.keys())


def unmet(site: Path, absent: Iterable[str] = ()) -> list[str]:
    """`dist -> requirement` for unconditional requirements not installed and not declared absent.

    Requirements with an environment marker (`; python_version < "3.11"`, `; extra == ...`) are skipped:
    evaluating markers needs `packaging`, and pip already resolved them for the target runtime.
    """
    allowed = {normalize(n) for n in absent}
    dists = installed(site)
    problems = []
    for name, info in sorted(dists.items()):
        metadata = email.parser.Parser().parsestr((info / "METADATA").read_text(encoding="utf-8"), headersonly=True)
        for requirement in metadata.get_all("Requires-Dist") or []:
            if ";" in requirement:
                continue
            needed = normalize(re.split(r"[\s<>=!~\[(]", requirement.strip(), maxsplit=1)[0])
            if needed not in dists and needed not in allowed:
                problems.append(f"{name} -> {requirement.strip()}")
    return problems


def half(path: Path) -> int:
    """Rewrite a safetensors file with its F32 tensors as F16 (round to nearest even); returns bytes saved.

    Other dtypes are copied as they are, metadata is kept. A value beyond float16's range (65504) fails
    the build instead of becoming infinity.
    """
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    body = memoryview(data)[8 + length:]
    tensors = sorted(((k, v) for k, v in header.items() if k != "__metadata__"), key=lambda kv: kv[1]["data_offsets"])
    out_header: dict[str, object] = {"__metadata__": header["__metadata__"]} if "__metadata__" in header else {}
    chunks: list[bytes] = []
    offset = 0
    for name, info in tensors:
        start, end = info["data_offsets"]
        raw = bytes(body[start:end])
        dtype = info["dtype"]
        if dtype == "F32":
            raw = _f32_to_f16(raw, name)
            dtype = "F16"
        chunks.append(raw)
        out_header[name] = {"dtype": dtype, "shape": info["shape"], "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    encoded = json.dumps(out_header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the format pads the header so tensors stay 8-byte aligned
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks))
    return len(data) - path.stat().st_size


def _f32_to_f16(raw: bytes, name: str) -> bytes:
    count = len(raw) // 4
    out = bytearray()
    for start in range(0, count, _HALF_CHUNK):
        n = min(_HALF_CHUNK, count - start)
        values = struct.unpack(f"<{n}f", raw[start * 4:(start + n) * 4])
        try:
            out += struct.pack(f"<{n}e", *values)
        except OverflowError:
            raise SystemExit(f"{name}: a value is out of float16's range; keep this file in float32") from None
    return bytes(out)


def size_mb(root: Path) -> float:
    """Unzipped size as Lambda counts it: the bytes of the files (MiB; the limit is 250 MiB)."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and not p.is_symlink()) / 2**20


def main(argv: list[str]) -> int:
    command, *args = argv
    if command == "size":
        mb, name, limit = size_mb(Path(args[0])), args[1], float(args[2])
        print(f"{name}: {mb:.1f} MB unzipped (budget {limit:g} MB)")
        if mb > limit:
            print(f"{name} exceeds its {limit:g} MB budget", file=sys.stderr)
            return 1
        return 0
    if command == "half":
        saved = half(Path(args[0]))
        print(f"{args[0]}: float16, {saved / 1e6:.1f} MB smaller")
        return 0
    site, names = Path(args[0]), args[1:]
    if command == "check":
        problems = unmet(site, names[1:] if names[:1] == ["--absent"] else names)
        for problem in problems:
            print(f"unmet requirement in the layer: {problem}", file=sys.stderr)
        return 1 if problems else 0
    missing = remove(site, names) if command == "remove" else keep(site, names)
    for name in missing:
        print(f"note: {name} is not installed, nothing to {command}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
