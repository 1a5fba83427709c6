"""What masking personal data costs per question (eneo.personal_data.masking), in CPU time.

One question as an assistant with knowledge sends it: a system prompt, 8 retrieved passages of ~150 words
(Swedish case-work text, some with identity numbers, phone numbers and e-mail addresses), 6 earlier turns
and the question, built by eneo.answers.context.build_prompt; then an answer of 400 tokens that names
some placeholders, each split across two tokens, fed to the Unmasker token by token.

Baseline, in the same run: build_prompt itself (what every question already pays to fit the request to
the model's window). Reported: p50/p99 of building, masking the built request, restoring the answer, and
masking + restoring as a ratio of building. A question's answer takes seconds at the provider; this is
what the platform adds before and during it.

Second case, an embedded chunk batch (eneo.model_providers.personal_data.MaskingEmbedder): a batch of 32
chunks (the ingestion's `embed_batch_size`) of ~200 words, as a protected organisation sends it to an
external embedding model. Baseline, in the same run: the same batch sent unmasked through the same
provider embedder (the openai SDK) to the tests' fake OpenAI-compatible server on 127.0.0.1, which answers
at once; a real provider's round trip (tens to hundreds of ms) makes the real ratio smaller still.

Run:  .venv/bin/python bench/personal_data.py [--rounds 300] [--batches 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
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
from eneo.personal_data.masking import Masking, mask_request, mask_texts  # noqa: E402

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


def report(name: str, values: list[float]) -> None:
    print(f"  {name:<26} p50 {statistics.median(values):7.3f} ms   p99 {p(values, 99):7.3f} ms")


async def embedded_batches(rounds: int) -> None:
    """The chunk-batch case: the masking embedder against the unmasked one, interleaved, same fake server."""
    from eneo.embeddings import Embedder, embedder_for
    from eneo.llm.clients import close_clients
    from eneo.model_providers.personal_data import MaskingEmbedder
    from tests.fakes.openai_extras import FakeOpenAIExtras

    class Row:  # an embedding_models row as embedder_for reads it
        name, dimensions, provider_id = "text-embedding-3-small", 384, uuid.uuid4()

    os.environ.setdefault("OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")  # the fake listens there, as in the tests
    rng = random.Random(16)
    batch = [prose(rng, 200) for _ in range(32)]
    with FakeOpenAIExtras(api_key="sk-bench-0123456789", dimensions=384) as fake:
        plain = embedder_for(Row(), fake.provider_config("openai_compatible"))
        masking = MaskingEmbedder(plain)

        async def timed_async(embedder: Embedder) -> float:
            start = time.perf_counter()
            await embedder.embed(batch)
            return (time.perf_counter() - start) * 1000

        for _ in range(5):  # warm up: the SDK's client, the fake's first requests
            await timed_async(plain)
            await timed_async(masking)
        sent, masked, cpu = [], [], []
        for _ in range(rounds):
            sent.append(await timed_async(plain))
            masked.append(await timed_async(masking))
            start = time.perf_counter()
            mask_texts(batch)
            cpu.append((time.perf_counter() - start) * 1000)
        await close_clients()
    values = sum(mask_texts(batch)[1].values())
    print(f"one chunk batch: {len(batch)} chunks, {sum(map(len, batch))} characters, {values} values masked")
    report("embed unmasked (baseline)", sent)
    report("embed masked", masked)
    report("masking alone", cpu)
    print(f"embed masked / embed unmasked (p50): {statistics.median(masked) / statistics.median(sent):.2f}x; "
          f"masking per chunk {statistics.median(cpu) / len(batch) * 1000:.0f} µs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--batches", type=int, default=100)
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
        report(name, values)
    print(f"mask + restore / build_prompt (p50): {statistics.median(both) / statistics.median(built):.2f}x")
    asyncio.run(embedded_batches(args.batches))


if __name__ == "__main__":
    main()
