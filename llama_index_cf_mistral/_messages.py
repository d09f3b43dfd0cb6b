"""LlamaIndex messages, blocks and tools ↔ the core's neutral types. Pure functions, no I/O.

Inbound: ``ChatMessage`` (roles, ``TextBlock`` / ``ImageBlock`` / ``ToolCallBlock``, the
``tool_call_id`` a tool result carries in ``additional_kwargs``) → ``cf_mistral`` messages;
``BaseTool`` → ``ToolDefinition``. Outbound: a ``ChatResult`` → an assistant ``ChatMessage``
carrying tool calls twice (as ``ToolCallBlock``s and as ``additional_kwargs["tool_calls"]``),
because LlamaIndex's own code reads one form or the other (streamed structured output reads
only the second).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    CachePoint,
    ChatMessage,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.llms.utils import parse_partial_json
from llama_index.core.tools import BaseTool

from cf_mistral import (
    AssistantMessage,
    ContentPart,
    ImagePart,
    InvalidRequestError,
    InvalidToolCall,
    Message,
    SystemMessage,
    TextPart,
    ToolCall,
    ToolDefinition,
    ToolMessage,
    Usage,
    UserMessage,
    to_data_url,
)
from cf_mistral._forced import read_tool_choice

__all__ = [
    "assistant_message",
    "to_core_messages",
    "to_core_tool",
    "tool_calls_wire",
    "tool_choice_for",
    "tool_selections",
    "usage_dict",
]

_SYSTEM_ROLES = (MessageRole.SYSTEM, MessageRole.DEVELOPER)
_ASSISTANT_ROLES = (MessageRole.ASSISTANT, MessageRole.CHATBOT, MessageRole.MODEL)
_TOOL_ROLES = (MessageRole.TOOL, MessageRole.FUNCTION)


# -- inbound ------------------------------------------------------------------------------


def to_core_messages(messages: Sequence[ChatMessage]) -> list[Message]:
    """Convert a LlamaIndex conversation; raises ``ValueError`` naming the message and fix."""
    return [_to_core_message(message, index) for index, message in enumerate(messages)]


def _to_core_message(message: ChatMessage, index: int) -> Message:
    if not isinstance(message, ChatMessage):
        raise TypeError(
            f"messages[{index}] is a {type(message).__name__}, not a llama_index ChatMessage."
        )
    role = message.role
    if role in _TOOL_ROLES:
        return _tool_result(message, index)
    if role in _ASSISTANT_ROLES:
        return AssistantMessage(
            content=_plain_text(message, index, "an assistant message"),
            tool_calls=_assistant_tool_calls(message, index),
        )
    content = _content(message, index)
    if role in _SYSTEM_ROLES:
        return SystemMessage(content)
    if role == MessageRole.USER:
        return UserMessage(content)
    raise ValueError(f"messages[{index}] has role {role!r}, which this model does not know.")


def _content(message: ChatMessage, index: int) -> str | list[ContentPart]:
    """Text alone stays a string (the plainest wire form); images make a list of parts."""
    parts: list[ContentPart] = []
    for block in message.blocks:
        if isinstance(block, TextBlock):
            parts.append(TextPart(block.text))
        elif isinstance(block, ImageBlock):
            parts.append(ImagePart(_image_url(block, index)))
        elif isinstance(block, CachePoint):
            continue  # a caching hint for other providers: it carries no content
        else:
            raise _unsupported(block, index)
    if all(isinstance(part, TextPart) for part in parts):
        return "\n".join(part.text for part in parts if isinstance(part, TextPart))
    return parts


def _plain_text(message: ChatMessage, index: int, what: str) -> str:
    texts: list[str] = []
    for block in message.blocks:
        if isinstance(block, TextBlock):
            texts.append(block.text)
        elif isinstance(block, (ToolCallBlock, CachePoint, ThinkingBlock)):
            # Tool calls are read separately; reasoning is never replayed to a model (as
            # every provider integration does), and a cache hint carries no content.
            continue
        elif isinstance(block, ImageBlock):
            raise ValueError(
                f"messages[{index}] is {what} with an image: Workers AI accepts images only "
                "in user and system messages. Move the image to a user message."
            )
        else:
            raise _unsupported(block, index)
    return "\n".join(texts)


def _unsupported(block: Any, index: int) -> ValueError:
    kind = getattr(block, "block_type", type(block).__name__)
    return ValueError(
        f"messages[{index}] holds a {kind!r} block, which Mistral Small 3.1 on Workers AI "
        "cannot read: it takes text and images only. Convert the content to text first."
    )


def _image_url(block: ImageBlock, index: int) -> str:
    """A data URL, or the http(s) URL as given (the core refuses it or inlines it)."""
    if block.url is not None and block.image is None and block.path is None:
        return str(block.url)
    mime = block.image_mimetype
    if not mime:
        raise ValueError(
            f"messages[{index}] has an image whose type could not be guessed: set "
            "ImageBlock(image_mimetype='image/png') (or jpeg, webp, gif)."
        )
    if block.image is None and block.path is None:
        raise ValueError(f"messages[{index}] has an empty ImageBlock: pass image, path or url.")
    data = block.resolve_image(as_base64=False).read()
    return to_data_url(data, mime)


def _assistant_tool_calls(message: ChatMessage, index: int) -> list[ToolCall]:
    """Tool calls from ``ToolCallBlock``s, else from ``additional_kwargs["tool_calls"]``."""
    calls = [
        ToolCall(
            id=_required_id(block.tool_call_id, index),
            name=block.tool_name,
            arguments=_arguments(block.tool_kwargs, block.tool_name, index),
        )
        for block in message.blocks
        if isinstance(block, ToolCallBlock)
    ]
    if calls:
        return calls
    for item in message.additional_kwargs.get("tool_calls") or ():
        call_id, name, arguments = _read_legacy_call(item)
        if not name:
            raise ValueError(f"messages[{index}] has a tool call without a name: {item!r}.")
        calls.append(
            ToolCall(
                id=_required_id(call_id, index),
                name=name,
                arguments=_arguments(arguments, name, index),
            )
        )
    return calls


def _read_legacy_call(item: Any) -> tuple[str | None, str | None, Any]:
    """OpenAI-shaped calls, as dicts or as SDK objects (``.id``, ``.function.name``)."""
    if isinstance(item, Mapping):
        function = item.get("function") or {}
        return item.get("id"), function.get("name"), function.get("arguments")
    function = getattr(item, "function", None)
    return (
        getattr(item, "id", None),
        getattr(function, "name", None),
        getattr(function, "arguments", None),
    )


def _required_id(call_id: str | None, index: int) -> str:
    if not call_id:
        raise ValueError(
            f"messages[{index}] has a tool call without an id: Mistral pairs each tool "
            "result with its call by id. Set ToolCallBlock(tool_call_id=...)."
        )
    return call_id


def _arguments(raw: Any, name: str, index: int) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        value = json.loads(raw) if isinstance(raw, str) else None
    except json.JSONDecodeError as error:
        raise ValueError(
            f"messages[{index}]: the arguments of tool call {name!r} are not valid JSON "
            f"({error}): {str(raw)[:120]!r}."
        ) from None
    if not isinstance(value, dict):
        raise ValueError(
            f"messages[{index}]: the arguments of tool call {name!r} must be a JSON object, "
            f"got {str(raw)[:120]!r}."
        )
    return value


def _tool_result(message: ChatMessage, index: int) -> ToolMessage:
    call_id = message.additional_kwargs.get("tool_call_id")
    if not call_id:
        raise ValueError(
            f"messages[{index}] is a tool result without additional_kwargs['tool_call_id']: "
            "set it to the id of the tool call it answers (ToolSelection.tool_id)."
        )
    name = message.additional_kwargs.get("name")
    return ToolMessage(
        tool_call_id=str(call_id),
        content=_plain_text(message, index, "a tool result"),
        name=str(name) if name else None,
    )


def to_core_tool(tool: BaseTool | ToolDefinition | Mapping[str, Any]) -> ToolDefinition:
    """A ``BaseTool`` (via its OpenAI spec), an OpenAI tool dict or a ``ToolDefinition``."""
    if isinstance(tool, ToolDefinition):
        return tool
    if isinstance(tool, BaseTool):
        spec: Mapping[str, Any] = tool.metadata.to_openai_tool(skip_length_check=True)
    elif isinstance(tool, Mapping):
        spec = tool
    else:
        raise TypeError(
            f"Cannot use {tool!r} as a tool: pass a llama_index BaseTool (e.g. "
            "FunctionTool.from_defaults(fn)), an OpenAI tool dict or a cf_mistral.ToolDefinition."
        )
    function = spec.get("function", spec)
    return ToolDefinition(
        name=str(function.get("name", "")),
        description=str(function.get("description") or ""),
        parameters=dict(function.get("parameters") or {"type": "object", "properties": {}}),
    )


def tool_choice_for(tool_choice: Any, tool_required: bool) -> str:
    """The core's ``tool_choice``: an explicit choice wins; ``None`` means required or auto.

    An explicit ``tool_choice=None`` (which ``FunctionCallingProgram`` passes) must not erase
    ``tool_required``: that was the MistralAI integration's bug.
    """
    if tool_choice is None:
        return "required" if tool_required else "auto"
    if isinstance(tool_choice, BaseTool):
        return tool_choice.metadata.get_name()
    chosen = read_tool_choice(tool_choice)
    assert chosen is not None  # None was handled above
    if tool_required and chosen in ("auto", "none"):
        raise InvalidRequestError(
            f"tool_required=True asks for a tool call but tool_choice={tool_choice!r} leaves "
            f"it {'optional' if chosen == 'auto' else 'off'}: drop one of the two."
        )
    return chosen


# -- outbound -----------------------------------------------------------------------------


def usage_dict(usage: Usage | None) -> dict[str, Any]:
    """The usage as reported: counters, ``prompt_tokens_details.cached_tokens``, ``neurons``..."""
    return {} if usage is None else usage.to_dict()


def tool_calls_wire(calls: Sequence[tuple[str, str, str]]) -> list[dict[str, Any]]:
    """``(id, name, JSON arguments)`` in the OpenAI shape of ``additional_kwargs["tool_calls"]``."""
    return [
        {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
        for call_id, name, arguments in calls
    ]


def assistant_message(
    text: str,
    calls: Sequence[tuple[str, str, str]] = (),
    invalid: Sequence[InvalidToolCall] = (),
) -> ChatMessage:
    """One text block (possibly empty) + a ``ToolCallBlock`` per call, calls also in kwargs.

    ``calls`` are ``(id, name, arguments)`` with arguments as JSON text, complete or (while
    streaming) a prefix; the block holds them decoded as far as they go.
    """
    if not calls and not invalid:  # every text-only reply, and nearly every streamed chunk
        return ChatMessage(
            role=MessageRole.ASSISTANT, blocks=[TextBlock(text=text)], additional_kwargs={}
        )
    blocks: list[Any] = [TextBlock(text=text)]
    blocks.extend(
        ToolCallBlock(tool_call_id=call_id, tool_name=name, tool_kwargs=_partial(arguments))
        for call_id, name, arguments in calls
    )
    additional: dict[str, Any] = {}
    if calls:
        additional["tool_calls"] = tool_calls_wire(calls)
    if invalid:
        additional["invalid_tool_calls"] = [
            {"id": call.id, "name": call.name, "arguments": call.arguments, "error": call.error}
            for call in invalid
        ]
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=blocks, additional_kwargs=additional)


def _partial(arguments: str) -> dict[str, Any]:
    """Decode JSON arguments, tolerating a streamed prefix (``{"city": "Par``)."""
    if not arguments.strip():
        return {}
    try:
        value = parse_partial_json(arguments)
    except ValueError:
        return {}  # a prefix too short to read yet (e.g. '{"ci'); more is on the way
    return value if isinstance(value, dict) else {}


def tool_selections(message: ChatMessage, error_on_no_tool_call: bool) -> list[ToolSelection]:
    """The tool calls of an assistant message; raises on invalid ones rather than guess."""
    invalid = message.additional_kwargs.get("invalid_tool_calls") or []
    if invalid:
        details = "; ".join(
            f"{item.get('name')!r} with arguments {str(item.get('arguments'))[:120]!r}: "
            f"{item.get('error')}"
            for item in invalid
        )
        raise ValueError(
            f"The model made tool call(s) that cannot be used: {details}. Ask again (a "
            "lower temperature helps), or use tool_required=True to constrain the arguments "
            "to the tool's schema."
        )
    selections = [
        ToolSelection(
            tool_id=block.tool_call_id or "",
            tool_name=block.tool_name,
            tool_kwargs=_selection_kwargs(block.tool_kwargs, block.tool_name),
        )
        for block in message.blocks
        if isinstance(block, ToolCallBlock)
    ]
    if not selections:
        for item in message.additional_kwargs.get("tool_calls") or ():
            call_id, name, arguments = _read_legacy_call(item)
            selections.append(
                ToolSelection(
                    tool_id=call_id or "",
                    tool_name=name or "",
                    tool_kwargs=_selection_kwargs(arguments, name or ""),
                )
            )
    if not selections and error_on_no_tool_call:
        raise ValueError(
            f"Expected at least one tool call, but got 0 tool calls. The reply was: "
            f"{(message.content or '')[:200]!r}. Pass tool_required=True to force a call."
        )
    return selections


def _selection_kwargs(raw: Any, name: str) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            value = parse_partial_json(raw)
        except ValueError:
            raise ValueError(
                f"The arguments of tool call {name!r} are not JSON: {raw[:120]!r}."
            ) from None
        if isinstance(value, dict):
            return value
    raise ValueError(f"The arguments of tool call {name!r} are not a JSON object: {raw!r}.")
