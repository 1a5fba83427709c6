"""The wire formats the fake LLM server speaks: OpenAI/Azure chat completions and Anthropic messages,
streamed (server-sent events) and whole, and each provider's error bodies."""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.responses import JSONResponse, Response

Dialect = Literal["openai", "azure", "anthropic"]


@dataclass
class Reply:
    """Frames of one answer: before the tokens, one per token, after them (terminal events)."""

    head: list[bytes] = field(default_factory=list)
    tokens: list[bytes] = field(default_factory=list)
    tail: list[bytes] = field(default_factory=list)


# -----------------------------------------------------------------------------

def text_of(content: Any) -> str:
    """Text of a message content: a string, or a list of blocks/parts with "text"."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def last_user(body: dict[str, Any]) -> Any:
    users = [m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"]
    return users[-1].get("content") if users else ""


def count_words(body: dict[str, Any]) -> int:
    texts = [text_of(body.get("system"))] + [text_of(m.get("content")) for m in body.get("messages") or []
                                           if isinstance(m, dict)]
    return sum(len(t.split()) for t in texts)


def sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data if isinstance(data, str) else json.dumps(data)}\n\n".encode()


def openai_model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 1700000000, "owned_by": "fake"}


def openai_stream(model: str, tokens: list[str], cut: bool, usage: tuple[int, int] | None, azure: bool) -> Reply:
    ident, created = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time())

    def chunk(choices: list[dict[str, Any]], usage_obj: dict[str, int] | None = None) -> bytes:
        return sse({"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                     "system_fingerprint": None, "choices": choices, "usage": usage_obj})

    def choice(delta: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

    reply = Reply()
    if azure:  # Azure opens with the prompt's content-filter results and no choices
        reply.head.append(sse({"id": "", "object": "", "created": 0, "model": "", "choices": [],
                                "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]}))
    reply.head.append(chunk(choice({"role": "assistant", "content": ""})))
    reply.tokens = [chunk(choice({"content": token})) for token in tokens]
    reply.tail.append(chunk(choice({}, "length" if cut else "stop")))
    if usage is not None:
        reply.tail.append(chunk([], {"prompt_tokens": usage[0], "completion_tokens": usage[1],
                                     "total_tokens": sum(usage)}))
    reply.tail.append(sse("[DONE]"))
    return reply


def anthropic_stream(model: str, tokens: list[str], cut: bool, usage: tuple[int, int]) -> Reply:
    message: dict[str, Any] = {
               "id": f"msg_{uuid.uuid4().hex[:12]}", "type": "message", "role": "assistant", "content": [],
               "model": model, "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": usage[0], "output_tokens": 1}}
    reply = Reply()
    reply.head = [
        sse({"type": "message_start", "message": message}, "message_start"),
        sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
             "content_block_start"),
        sse({"type": "ping"}, "ping"),
    ]
    reply.tokens = [sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}},
                         "content_block_delta") for t in tokens]
    reply.tail = [
        sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
        sse({"type": "message_delta", "delta": {"stop_reason": "max_tokens" if cut else "end_turn",
                                                 "stop_sequence": None},
              "usage": {"output_tokens": usage[1]}}, "message_delta"),
        sse({"type": "message_stop"}, "message_stop"),
    ]
    return reply


def openai_completion(model: str, text: str, cut: bool, usage: tuple[int, int]) -> dict[str, Any]:
    return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": int(time.time()),
            "model": model, "system_fingerprint": None,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                         "logprobs": None, "finish_reason": "length" if cut else "stop"}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}}


def anthropic_message(model: str, text: str, cut: bool, usage: tuple[int, int]) -> dict[str, Any]:
    return {"id": f"msg_{uuid.uuid4().hex[:12]}", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": "max_tokens" if cut else "end_turn",
            "stop_sequence": None, "usage": {"input_tokens": usage[0], "output_tokens": usage[1]}}


OPENAI_ERRORS = {400: ("invalid_request_error", None), 401: ("invalid_request_error", "invalid_api_key"),
                  404: ("invalid_request_error", "model_not_found"), 429: ("requests", "rate_limit_exceeded"),
                  500: ("server_error", None), 503: ("server_error", None)}
ANTHROPIC_ERRORS = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                     404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
                     529: "overloaded_error"}


def error_response(dialect: Dialect, status: int, error_type: str | None = None,
                   retry_after: float | None = None) -> Response:
    """An error response as the provider shapes it, with Retry-After (and OpenAI's retry-after-ms)."""
    headers: dict[str, str] = {}
    if retry_after is not None:
        headers["retry-after"] = str(math.ceil(retry_after))
        if dialect != "anthropic":
            headers["retry-after-ms"] = str(int(retry_after * 1000))
    if dialect == "anthropic":
        kind = error_type or ANTHROPIC_ERRORS.get(status, "api_error")
        body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": f"fake {kind}"}}
    elif dialect == "azure":
        body = {"error": {"code": error_type or str(status), "message": f"fake error {status}"}}
    else:
        kind, code = OPENAI_ERRORS.get(status, ("server_error", None))
        body = {"error": {"message": f"fake error {status}", "type": kind, "param": None, "code": error_type or code}}
    return JSONResponse(body, status_code=status, headers=headers)


def stream_error(anthropic: bool, error_type: str) -> bytes:
    if anthropic:
        return sse({"type": "error", "error": {"type": error_type, "message": f"fake {error_type}"}}, "error")
    return sse({"error": {"message": f"fake {error_type}", "type": error_type, "param": None, "code": None}})
