"""Offline token estimates, for context budgets and for usage when a server reports none.

No tokenizer tables (tiktoken downloads its own at run time, and every provider has a different one),
so this is an estimate that errs high on the texts an assistant sees: one token per digit and per
punctuation or symbol character (most tokenizers split these finely, some one digit per token), and
one per 3 UTF-8 bytes of everything else (words and whitespace). English prose averages about 4.5
bytes per token in large-vocabulary tokenizers, so prose is overestimated there (about 2x); bytes
rather than characters make å, ä, ö and non-Latin scripts count more. Measured against SmolLM2's
49k-vocabulary tokenizer (English-centric, the local demo model): English prose 1.97x, code 1.08x,
JSON 0.99x, Swedish prose 0.85x, Chinese 0.54x. So callers keep headroom in a budget rather than fill
a model's context window to the last estimated token.
"""

import math
import re

from eneo.llm.types import ChatRequest, Usage

_SPLIT_FINE = re.compile(r"[^\w\s]|\d")  # digits and punctuation/symbols: about one token each
_PER_MESSAGE = 4  # role markers and separators the chat templates add around every message


def estimate_tokens(text: str) -> int:
    """A conservative, offline estimate of how many tokens `text` is for a typical chat model."""
    if not text:
        return 0
    rest = _SPLIT_FINE.sub("", text)
    return math.ceil(len(rest.encode("utf-8")) / 3) + (len(text) - len(rest))


def estimate_usage(request: ChatRequest, answer: str) -> Usage:
    """Usage for a server that reports none (some llama.cpp and Ollama versions when streaming).

    The answer's estimate is capped at the request's max_tokens: the server could not have written more,
    and a report above the limit the admin set would be plainly wrong."""
    prompt = estimate_tokens(request.system) + _PER_MESSAGE
    prompt += sum(estimate_tokens(m.content) + _PER_MESSAGE for m in request.messages)
    output = estimate_tokens(answer)
    if request.max_tokens is not None:
        output = min(output, request.max_tokens)
    return Usage(input_tokens=prompt, output_tokens=output)
