"""What masking personal data costs per question (eneo.answers.personal_data), in CPU time.

One question as an assistant with knowledge sends it: a system prompt, 8 retrieved passages of ~150 words
(Swedish case-work text, some with identity numbers, phone numbers and e-mail addresses), 6 earlier turns
and the question, built by eneo.answers.context.build_prompt; then an answer of 400 tokens that names
some placeholders, each split across two tokens, fed to the Unmasker token by token.

Baseline, in the same run: build_prompt itself (what every question already pays to fit the request to
the model's window). Reported: p50/p99 of building, masking the built request, restoring the answer, and
masking + restoring as a ratio of building. A question's answer takes seconds at the provider; this is
what the platform adds before and during it.

Run:  .venv/bin/python bench/personal_data.py [--rounds 300]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared")]

from eneo.answers.context import Source, Turn, build_prompt  # noqa: E402
from eneo.answers.personal_data import Masking, mask_request  # noqa: E402

WORDS = ["beslut", "ansökan", "försörjningsstöd", "handläggare", "kommunen", "socialtjänsten", "insats", "boende",
         "ekonomiskt", "bistånd", "utredning", "vårdnadshavare", "skola", "omsorg", "hemtjänst", "bygglov", "avgift",
         "enligt", "lagen", "inom", "veckor", "dagar"]
PERSONAL = ["811218-9876", "19701063-2391", "anna.svensson@example.se", "070-123 45 67", "08-508 000 00",
            "+46 31 123 45 67", "per.ek@kommun.example.org"]
DECOYS = ["2024-03-15", "4 250 kr", "118 21", "ärende 2024/1234", "556677-8899"]


def prose(rng: random.Random, words: int) -> str:
    out = [rng.choice(WORDS) for _ in range(words)]
    for _ in range(3):
        out.insert(rng.randrange(len(out)), rng.choice(DECOYS))
    if rng.random() < 0.5:
        out.insert(rng.randrange(len(out)), rng.choice(PERSONAL))
    return " ".join(out)


def timed(fn: Callable[[], object], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(15)
    sources = [Source(uuid.uuid4(), f"Riktlinje {i}", i, None, prose(rng, 150), 1.0 - i / 10) for i in range(8)]
    history = [Turn(prose(rng, 25), prose(rng, 120)) for _ in range(6)]
    question = "Jag heter Anna, personnummer 811218-9876. Hur lång tid tar beslutet? Ring 070-123 45 67."

    def build() -> object:
        return build_prompt(model="m", system="Du är kommunens assistent. Svara kort.", history=history,
                            question=question, context_window=16_384, model_kwargs={}, reserve_default=1024,
                            sources=sources)

    request = build_prompt(model="m", system="Du är kommunens assistent. Svara kort.", history=history,
                           question=question, context_window=16_384, model_kwargs={}, reserve_default=1024,
                           sources=sources).request
    chars = len(request.system) + sum(len(m.content) for m in request.messages)
    probe = Masking()
    mask_request(request, probe)
    placeholders = list(probe.originals)
    tokens: list[str] = []
    for i in range(400):
        if i % 40 == 0:
            ph = placeholders[(i // 40) % len(placeholders)]
            tokens += [ph[:4], ph[4:]]
        else:
            tokens.append(rng.choice(WORDS) + " ")

    def mask() -> object:
        return mask_request(request, Masking())

    def restore() -> object:
        unmasker = probe.unmasker()
        return "".join(unmasker.feed(t) for t in tokens) + unmasker.end()

    for fn in (build, mask, restore):  # warm up
        timed(fn, 10)
    built, masked, restored = [], [], []
    for _ in range(args.rounds):  # interleaved, so the machine's load falls on all three alike
        built += timed(build, 1)
        masked += timed(mask, 1)
        restored += timed(restore, 1)
    both = [m + r for m, r in zip(masked, restored, strict=True)]
    print(f"one question: {chars} characters sent ({len(request.messages)} messages, {len(sources)} passages), "
          f"{len(placeholders)} distinct values masked; answer of {len(tokens)} tokens")
    for name, values in (("build_prompt (baseline)", built), ("mask the request", masked),
                         ("restore the answer", restored), ("mask + restore", both)):
        print(f"  {name:<24} p50 {statistics.median(values):7.3f} ms   p99 {p(values, 99):7.3f} ms")
    print(f"mask + restore / build_prompt (p50): {statistics.median(both) / statistics.median(built):.2f}x")


if __name__ == "__main__":
    main()
