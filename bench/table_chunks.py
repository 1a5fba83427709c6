"""How spreadsheets and CSVs become chunks: chunk count, tokens per chunk, and whether every row can be read
whole with its column names, on generated tables, through the real extraction and chunking
(eneo.knowledge.extract, eneo.knowledge.chunking at the default 200/40 tokens).

Tables: a municipality's supplier-invoice ledger (7 columns, mostly numbers and codes) as a CSV of about
134 KB, the size of the CSV that became 803 chunks in an independent check, and the same rows as an XLSX.
The baseline is the text the table holds (its CSV bytes' tokens): chunks x 200 / those tokens says how much
the chunking inflated it (1.0: every token once; the rows used to be repeated with their column names, and
overlapped).

Run:  .venv/bin/python bench/table_chunks.py [--rows 1600]
"""

from __future__ import annotations

import argparse
import io
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eneo.knowledge.chunking import chunk, count_tokens  # noqa: E402
from eneo.knowledge.extract import DocumentType, extract  # noqa: E402

HEADER = ["Verifikationsnummer", "Fakturadatum", "Leverantör", "Belopp (kr)", "Konto", "Ansvar", "Projekt"]
SUPPLIERS = ["Skanska Sverige AB", "Ramirent AB", "Lyreco Sverige AB", "Atea Sverige AB", "Vattenfall AB",
             "Ahlsell Sverige AB", "Bravida Sverige AB", "Svevia AB", "Sodexo AB", "Tele2 Sverige AB"]


def ledger(rows: int, seed: int = 14) -> list[list[str]]:
    rng = random.Random(seed)
    table = [HEADER]
    for n in range(rows):
        amount = f"{rng.randrange(100, 2_000_000) / 100:.2f}".replace(".", ",")
        table.append([f"LF{2024_00000 + n * 7}", f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
                      rng.choice(SUPPLIERS), amount, str(rng.choice([4010, 4020, 5410, 6110, 6420, 7010])),
                      str(rng.randrange(1000, 1100)), f"P{rng.randrange(100, 999)}"])
    return table


def csv_bytes(table: list[list[str]]) -> bytes:
    return "\n".join(";".join(row) for row in table).encode()


def xlsx_bytes(table: list[list[str]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Leverantörsfakturor"
    for row in table:
        sheet.append([float(v.replace(",", ".")) if i == 3 and v[0].isdigit() else v for i, v in enumerate(row)])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def whole_rows(chunks: list[str], table: list[list[str]]) -> float:
    """Share of rows whose verification number, supplier and account are in one chunk that names the columns."""
    found = 0
    for row in table[1:]:
        found += any(row[0] in c and row[2] in c and row[4] in c and "Leverantör" in c for c in chunks)
    return found / (len(table) - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2200, help="rows of the ledger (2200: ~134 KB of CSV)")
    args = parser.parse_args()
    table = ledger(args.rows)
    data = csv_bytes(table)
    baseline = count_tokens(data.decode())
    print(f"ledger: {args.rows} rows x {len(HEADER)} columns, CSV {len(data) / 1024:.0f} KB, {baseline} tokens")
    print(f"{'file':5} {'chunks':>7} {'tokens/chunk':>13} {'chunked/raw tokens':>19} {'rows whole':>11}")
    for kind, doc_type, raw in (("csv", DocumentType.CSV, data), ("xlsx", DocumentType.XLSX, xlsx_bytes(table))):
        pieces = chunk(extract(raw, doc_type).sections, 200, 40)
        tokens = sum(p.token_count for p in pieces)
        print(f"{kind:5} {len(pieces):7d} {tokens / len(pieces):13.1f} {tokens / baseline:19.2f} "
              f"{whole_rows([p.text for p in pieces], table):11.3f}")


if __name__ == "__main__":
    main()
