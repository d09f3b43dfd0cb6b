"""cf-mistral: Mistral Small 3.1 24B on Cloudflare Workers AI, the transport core.

Sync and async clients over httpx, neutral request / reply types shared by the LangChain and
LlamaIndex adapters, every Workers AI quirk absorbed in one place, and a local emulator
(:mod:`cf_mistral.emulator`) that speaks the same wire format.

>>> from cf_mistral import ChatRequest, UserMessage
>>> ChatRequest(messages=[UserMessage("Hello")]).messages[0].content
'Hello'
"""

import contextlib

from cf_mistral._client import AsyncWorkersAIClient, WorkersAIClient
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
from cf_mistral._pricing import estimate_cost_usd
from cf_mistral._schema import (
    CONTEXT_WINDOW,
    DEFAULT_MAX_TOKENS,
    DEFAULT_MODEL,
    MODEL_INPUT_KEYS,
    SAMPLING_PARAMETERS,
    check_parameters,
    check_sampling_params,
)
from cf_mistral._sse import SSEDecoder
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

__all__ = [
    "CONTEXT_WINDOW",
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_MODEL",
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
    "check_parameters",
    "check_sampling_params",
    "estimate_cost_usd",
    "mint_tool_call_id",
    "to_data_url",
    "to_mistral_tool_call_id",
]

# Present every export as cf_mistral.X (reprs, docs, pickles), as httpx does.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) or callable(_value):
        with contextlib.suppress(AttributeError, TypeError):
            _value.__module__ = "cf_mistral"
del _name, _value
