"""What the model is sent: the system prompt, as much recent history as fits, and the question.

The budget is the model's context window minus the room kept for the answer (the assistant's
`max_tokens`, else `answer_reserve_tokens` capped at a quarter of the window), the system prompt and
the question. Whole turns are dropped, oldest first: a half turn would show the model an answer
without its question. Token counts are estimates (eneo.llm.estimate_tokens) that err on the high
side (with HEADROOM for languages the estimate undercounts), so a request does not overflow a window
the estimate said it fits. The answer's room is always sent as
`max_tokens`, so prompt and answer together stay within the window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from eneo.core.errors import ValidationFailed
from eneo.llm import ChatMessage, ChatRequest, estimate_tokens

MESSAGE_OVERHEAD = 8  # role markers and separators a chat template adds around each message
# estimate_tokens is about 0.85x the real count for Swedish prose on an English-centric tokenizer
# (eneo.llm.tokens); budgets count every estimate 1.25x so Swedish text never overflows a window.
HEADROOM = 1.25


def _cost(text: str) -> int:
    return math.ceil(estimate_tokens(text) * HEADROOM) + MESSAGE_OVERHEAD


@dataclass(frozen=True)
class Turn:
    question: str
    answer: str


class QuestionTooLong(ValidationFailed):
    code = "question_too_long"


def answer_room(context_window: int, max_tokens: int | None, reserve_default: int) -> int:
    return max_tokens or min(reserve_default, max(context_window // 4, 1))


def fit_history(history: list[Turn], budget: int) -> list[Turn]:
    """The newest turns (kept oldest first) whose estimated size fits `budget`."""
    kept: list[Turn] = []
    for turn in reversed(history):
        cost = _cost(turn.question) + _cost(turn.answer)
        if cost > budget:
            break
        budget -= cost
        kept.append(turn)
    kept.reverse()
    return kept


def build_request(*, model: str, system: str, history: list[Turn], question: str, context_window: int,
                  model_kwargs: dict[str, Any], reserve_default: int) -> ChatRequest:
    """The chat request for `question`; QuestionTooLong if even the question alone does not fit."""
    max_tokens = model_kwargs.get("max_tokens")
    room = answer_room(context_window, max_tokens, reserve_default)
    fixed = _cost(system) + _cost(question)
    budget = context_window - room - fixed
    if budget < 0:
        raise QuestionTooLong(
            f"The question does not fit this model's context window of {context_window} tokens "
            f"(about {fixed} tokens with the system prompt, plus {room} kept for the answer); shorten it",
            details=[{"field": "question", "message": "too long for the model's context window",
                      "type": "too_long"}])
    messages: list[ChatMessage] = []
    for turn in fit_history(history, budget):
        messages += [ChatMessage("user", turn.question), ChatMessage("assistant", turn.answer)]
    messages.append(ChatMessage("user", question))
    return ChatRequest(model=model, system=system, messages=messages, temperature=model_kwargs.get("temperature"),
                       top_p=model_kwargs.get("top_p"), max_tokens=room)
