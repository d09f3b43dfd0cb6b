"""Neutral types: what the adapters hand the core and what the core hands back.

Plain frozen dataclasses, free of any framework and of the wire format. The adapters translate
LangChain / LlamaIndex objects to these; :mod:`cf_mistral._request` turns them into the wire
body; :mod:`cf_mistral._response` and :mod:`cf_mistral._stream` turn replies back into them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from cf_mistral._pricing import ModelPrice

__all__ = [
    "AssistantMessage",
    "ChatRequest",
    "ChatResult",
    "ContentPart",
    "FinishReason",
    "ImagePart",
    "InvalidToolCall",
    "Message",
    "StreamEnd",
    "StreamEvent",
    "SystemMessage",
    "TextDelta",
    "TextPart",
    "ToolCall",
    "ToolCallDelta",
    "ToolDefinition",
    "ToolMessage",
    "Usage",
    "UsageEvent",
    "UserMessage",
]

FinishReason = Literal["stop", "length", "tool_calls"]


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image, as a ``data:image/...;base64,...`` URL (or an http(s) URL to inline)."""

    url: str


ContentPart = TextPart | ImagePart


@dataclass(frozen=True, slots=True)
class SystemMessage:
    content: str | Sequence[ContentPart]


@dataclass(frozen=True, slots=True)
class UserMessage:
    content: str | Sequence[ContentPart]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A well-formed tool call: ``arguments`` is the decoded JSON object."""

    id: str
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class InvalidToolCall:
    """A tool call whose arguments are not a JSON object; ``error`` says why."""

    id: str
    name: str | None
    arguments: str
    error: str


@dataclass(frozen=True, slots=True)
class AssistantMessage:
    content: str = ""
    tool_calls: Sequence[ToolCall] = ()


@dataclass(frozen=True, slots=True)
class ToolMessage:
    tool_call_id: str
    content: str
    name: str | None = None


Message = SystemMessage | UserMessage | AssistantMessage | ToolMessage


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """A function the model may call. ``parameters`` is a JSON Schema of type ``object``."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One call to the model.

    Either ``messages`` (the chat form) or ``prompt`` (the prompt form; with ``raw=True`` the
    prompt must already follow Mistral's chat template).

    ``tool_choice``: ``None`` or ``"auto"`` lets the model choose; ``"none"`` sends no tools;
    ``"required"`` (or ``"any"``) forces a call to one of ``tools``; any other string forces
    a call to the tool of that name. Forcing uses constrained decoding (``guided_json``),
    since this model has no ``tool_choice`` parameter.

    ``response_schema`` constrains the reply to JSON matching it (``guided_json``); ``{}``
    admits any JSON object. ``params`` holds sampling parameters by their wire names
    (``temperature``, ``max_tokens``, ...), checked against the model's ranges. ``stop``
    strings end the reply client-side (Workers AI has no stop parameter).
    """

    messages: Sequence[Message] = ()
    prompt: str | None = None
    raw: bool = False
    tools: Sequence[ToolDefinition] = ()
    tool_choice: str | None = None
    response_schema: Mapping[str, Any] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    stop: Sequence[str] = ()
    inline_remote_images: bool | None = None
    # Sent as the x-session-affinity header (never in the body); None: the client's default.
    session_affinity: str | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one reply.

    ``cached_tokens`` is the part of ``prompt_tokens`` served from the prompt cache
    (``prompt_tokens_details.cached_tokens``; see ``session_affinity``). ``extra`` holds the
    other keys of the reply's ``usage`` object as Workers AI sent them (``neurons``,
    ``prompt_tokens_details``, ...), so nothing it reports is lost; it takes no part in
    comparing two usages, which compare by their counts.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __add__(self, other: Usage) -> Usage:
        """Two replies' usage together (numbers in ``extra`` are added, the rest taken last)."""
        if not isinstance(other, Usage):
            return NotImplemented
        extra = dict(self.extra)
        for key, value in other.extra.items():
            before = extra.get(key)
            numbers = (int, float)
            if (
                isinstance(before, numbers)
                and isinstance(value, numbers)
                and not isinstance(before, bool)
                and not isinstance(value, bool)
            ):
                extra[key] = before + value
            else:
                extra[key] = value
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
            self.cached_tokens + other.cached_tokens,
            extra,
        )

    def to_dict(self) -> dict[str, Any]:
        """The usage as Workers AI reports it: the counters, then every other key.

        ``prompt_tokens_details.cached_tokens`` is this usage's ``cached_tokens`` whenever
        the server reported the details or some tokens were cached.
        """
        reported: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
            **self.extra,
        }
        details = self.extra.get("prompt_tokens_details")
        if self.cached_tokens or isinstance(details, Mapping):
            known = details if isinstance(details, Mapping) else {}
            reported["prompt_tokens_details"] = {**known, "cached_tokens": self.cached_tokens}
        return reported

    @property
    def cost_usd(self) -> float:
        """Estimated cost at the published price of Mistral Small 3.1 ($0.35 / $0.56 per M).

        Cached tokens are discounted only where a cached-input price is published (none is
        for this model). :attr:`ChatResult.cost_usd` uses the client's ``pricing`` instead.
        """
        from cf_mistral._pricing import DEFAULT_PRICING
        from cf_mistral._schema import DEFAULT_MODEL

        return DEFAULT_PRICING[DEFAULT_MODEL].cost_usd(self)


@dataclass(frozen=True, slots=True)
class ChatResult:
    """A complete reply.

    ``text`` is the answer text (for ``response_schema`` calls, the JSON text).
    ``finish_reason`` is ``"tool_calls"`` when the model called tools, ``"length"`` when the
    reply used all of ``max_tokens``, else ``"stop"``. ``raw`` is the decoded reply body
    (for streams, the terminal usage event). ``price`` is the client's price for ``model``
    (its ``pricing`` table), ``None`` for a model it has no price for.
    """

    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    invalid_tool_calls: tuple[InvalidToolCall, ...] = ()
    usage: Usage | None = None
    finish_reason: FinishReason = "stop"
    model: str = ""
    request_id: str | None = None
    raw: Mapping[str, Any] | None = None
    price: ModelPrice | None = None

    @property
    def cost_usd(self) -> float | None:
        """Estimated cost of this reply at ``price``; ``None`` without usage or price."""
        if self.usage is None or self.price is None:
            return None
        return self.price.cost_usd(self.usage)


@dataclass(frozen=True, slots=True)
class TextDelta:
    """New reply text.

    ``snapshot`` is all the text so far, this delta included, on streams opened with
    ``snapshots=True`` (the stream's own string, not a copy); otherwise ``None``.
    """

    text: str
    snapshot: str | None = None


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of tool call ``index``: ``id`` and ``name`` on its first delta, then argument text.

    Concatenating ``arguments`` over all deltas of one index gives the JSON arguments.
    """

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """Token usage of the whole reply; sent exactly once per stream, just before the end."""

    usage: Usage


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The last event of every stream that completed: the assembled result."""

    result: ChatResult


StreamEvent = TextDelta | ToolCallDelta | UsageEvent | StreamEnd
