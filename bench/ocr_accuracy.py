"""OCR word accuracy on scanned pages rendered here, through the real extraction path (PDF without a text
layer -> pdfium render at 300 dpi -> Tesseract, eneo.knowledge.extract), per language and scan quality.

Pages: the first paragraphs of the public QA sets (bench/data: SQuAD paragraphs in English, their Swedish
translation, CC BY-SA 4.0), one paragraph a page, 11-point DejaVu Sans (tests/scans.py). Conditions:

  clean     rendered at 300 dpi, nothing else
  scan      a scanner's page: 0.6 degree skew, blur 0.6 px, dust, JPEG quality 60 (the tests' default)
  poor      a bad scan: 1.5 degree skew, blur 1.0 px, 4x the dust, JPEG quality 35
  150dpi    the scan at half the resolution (a cheap scanner's default, or a fax-like archive copy)

Word accuracy is 1 - WER (word edit distance over the words written; case and surrounding punctuation
ignored), pooled over the pages of a row. The baseline of each row is the clean pages of the same
language in the same run; for Swedish, a row with English data alone (`-l eng`) shows what the Swedish
model adds (å, ä, ö). Seconds per page are wall time of the whole extraction, one Tesseract thread.

Run:  .venv/bin/python bench/ocr_accuracy.py [--pages 8]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from eneo.knowledge.extract import DocumentType, ExtractLimits, extract  # noqa: E402
from tests.scans import degrade, render_page, to_pdf, word_accuracy, words  # noqa: E402

CONDITIONS = ("clean", "scan", "poor", "150dpi")


def paragraphs(language: str, count: int) -> list[str]:
    data = json.loads((ROOT / "bench" / "data" / f"squad_{language}.json").read_text())
    found = [p for d in data["documents"] for p in d["paragraphs"] if 400 <= len(p) <= 1400]
    return found[:count]


def page(text: str, condition: str, seed: int) -> tuple[Image.Image, int]:
    clean = render_page([text], points=11)
    if condition == "clean":
        return clean, 300
    if condition == "poor":
        return degrade(clean, skew_degrees=1.5, blur=1.0, specks=0.002, jpeg_quality=35, seed=seed), 300
    scanned = degrade(clean, seed=seed)
    if condition == "150dpi":
        return scanned.resize((scanned.width // 2, scanned.height // 2), Image.Resampling.BILINEAR), 150
    return scanned, 300


def run(texts: list[str], condition: str, limits: ExtractLimits) -> tuple[float, float]:
    """Pooled word accuracy and seconds per page."""
    errors = total = 0.0
    seconds = 0.0
    for seed, text in enumerate(texts):
        image, dpi = page(text, condition, seed)
        data = to_pdf([image], resolution=dpi)
        started = time.perf_counter()
        extracted = extract(data, DocumentType.PDF, limits)
        seconds += time.perf_counter() - started
        assert extracted.ocr_pages == (1,)
        n = len(words(text))
        errors += (1 - word_accuracy(text, extracted.text)) * n
        total += n
    return 1 - errors / total, seconds / len(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=8, help="pages per language and condition")
    args = parser.parse_args()
    limits = ExtractLimits(timeout_seconds=600)
    print(f"OCR word accuracy, {args.pages} pages per row (1 paragraph each), Tesseract {limits.ocr_languages}")
    print(f"{'language':9} {'condition':10} {'data':8} {'words':>6} {'accuracy':>9} {'vs clean':>9} {'s/page':>7}")
    for language in ("sv", "en"):
        texts = paragraphs(language, args.pages)
        n = sum(len(words(t)) for t in texts)
        rows = [(c, limits) for c in CONDITIONS]
        if language == "sv":
            rows.append(("scan", replace(limits, ocr_languages="eng")))
        baseline = None
        for condition, row_limits in rows:
            accuracy, per_page = run(texts, condition, row_limits)
            baseline = accuracy if baseline is None else baseline
            print(f"{language:9} {condition:10} {row_limits.ocr_languages:8} {n:6d} {accuracy:9.4f} "
                  f"{accuracy / baseline:9.3f} {per_page:7.2f}", flush=True)


if __name__ == "__main__":
    main()
