"""One async interface over the OpenAI, Azure OpenAI, Anthropic and OpenAI-compatible chat APIs.

    async for item in stream_chat(config, request):   # TextDelta ... then one Usage
        ...
    text, usage = await complete_chat(config, request)
    await test_connection(config, model)              # raises ProviderError

Importing this package is cheap: the `openai`/`anthropic` SDKs (0.5 s and 1.4 s to import) load on the
first call that needs them.
"""

from eneo.llm.chat import complete_chat, stream_chat, test_connection
from eneo.llm.tokens import estimate_tokens
from eneo.llm.types import (
    ChatMessage,
    ChatRequest,
    ProviderConfig,
    ProviderError,
    ProviderType,
    RetryPolicy,
    TextDelta,
    Usage,
)

__all__ = [
    "ChatMessage",
    "ChatRequest",
    "ProviderConfig",
    "ProviderError",
    "ProviderType",
    "RetryPolicy",
    "TextDelta",
    "Usage",
    "complete_chat",
    "estimate_tokens",
    "stream_chat",
    "test_connection",
]
