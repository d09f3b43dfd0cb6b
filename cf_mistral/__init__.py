"""cf-mistral: Mistral Small 3.1 24B on Cloudflare Workers AI, the transport core.

Sync and async clients over httpx, neutral request / reply types shared by the LangChain and
LlamaIndex adapters, every Workers AI quirk absorbed in one place, and a local emulator
(:mod:`cf_mistral.emulator`) that speaks the same wire format.

>>> from cf_mistral import ChatRequest, UserMessage
>>> ChatRequest(messages=[UserMessage("Hello")]).messages[0].content
'Hello'
"""

import contextlib
import importlib
import typing

from cf_mistral._config import AIGateway, ClientConfig, Timeouts
from cf_mistral._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    GatewayError,
    GuidedJSONError,
    InvalidParameterError,
    InvalidRequestError,
    NotFoundError,
    QuotaExceededError,
    RateLimitError,
    RequestTimeoutError,
    RequestTooLargeError,
    ResponseParseError,
    ServerError,
    StreamInterruptedError,
    WorkersAIError,
)
from cf_mistral._images import to_data_url
from cf_mistral._pricing import DEFAULT_PRICING, ModelPrice, estimate_cost_usd
from cf_mistral._schema import (
    CONTEXT_WINDOW,
    DEFAULT_MAX_TOKENS,
    DEFAULT_MODEL,
    MODEL_INPUT_KEYS,
    SAMPLING_PARAMETERS,
    check_arguments,
    check_parameters,
    check_sampling_params,
)
from cf_mistral._sse import SSEDecoder
from cf_mistral._tokens import count_prompt_tokens, count_text_tokens, tokenize
from cf_mistral._tool_ids import mint_tool_call_id, to_mistral_tool_call_id
from cf_mistral._types import (
    AssistantMessage,
    ChatRequest,
    ChatResult,
    ContentPart,
    FinishReason,
    ImagePart,
    InvalidToolCall,
    Message,
    StreamEnd,
    StreamEvent,
    SystemMessage,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    ToolDefinition,
    ToolMessage,
    Usage,
    UsageEvent,
    UserMessage,
)
from cf_mistral._version import __version__

if typing.TYPE_CHECKING:
    from cf_mistral._client import AsyncWorkersAIClient, WorkersAIClient, check_http_clients

__all__ = [
    "CONTEXT_WINDOW",
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_MODEL",
    "DEFAULT_PRICING",
    "MODEL_INPUT_KEYS",
    "SAMPLING_PARAMETERS",
    "AIGateway",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AssistantMessage",
    "AsyncWorkersAIClient",
    "AuthenticationError",
    "BadRequestError",
    "ChatRequest",
    "ChatResult",
    "ClientConfig",
    "ContentPart",
    "FinishReason",
    "GatewayError",
    "GuidedJSONError",
    "ImagePart",
    "InvalidParameterError",
    "InvalidRequestError",
    "InvalidToolCall",
    "Message",
    "ModelPrice",
    "NotFoundError",
    "QuotaExceededError",
    "RateLimitError",
    "RequestTimeoutError",
    "RequestTooLargeError",
    "ResponseParseError",
    "SSEDecoder",
    "ServerError",
    "StreamEnd",
    "StreamEvent",
    "StreamInterruptedError",
    "SystemMessage",
    "TextDelta",
    "TextPart",
    "Timeouts",
    "ToolCall",
    "ToolCallDelta",
    "ToolDefinition",
    "ToolMessage",
    "Usage",
    "UsageEvent",
    "UserMessage",
    "WorkersAIClient",
    "WorkersAIError",
    "__version__",
    "check_arguments",
    "check_http_clients",
    "check_parameters",
    "check_sampling_params",
    "count_prompt_tokens",
    "count_text_tokens",
    "estimate_cost_usd",
    "mint_tool_call_id",
    "to_data_url",
    "to_mistral_tool_call_id",
    "tokenize",
]

# The clients are loaded on first use: they import httpx, which costs more than the rest of
# the package together (its CLI module pulls in rich when that is installed). Types, config
# and errors never need it, so `import cf_mistral` (and the adapters) stay cheap.
_LAZY = {
    "AsyncWorkersAIClient": "cf_mistral._client",
    "WorkersAIClient": "cf_mistral._client",
    "check_http_clients": "cf_mistral._client",
}


def _present(value: typing.Any) -> typing.Any:
    """Show an export as cf_mistral.X (reprs, docs, pickles), as httpx does."""
    if isinstance(value, type) or callable(value):
        with contextlib.suppress(AttributeError, TypeError):
            value.__module__ = "cf_mistral"
    return value


def __getattr__(name: str) -> typing.Any:
    if name in _LAZY:
        value = _present(getattr(importlib.import_module(_LAZY[name]), name))
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cf_mistral' has no attribute {name!r}")


for _name in __all__:
    if _name not in _LAZY:
        _present(globals()[_name])
del _name
