"""Pure conversions between LangChain's types and the core's neutral types.

Inbound (LangChain → core): messages, content blocks, tools, ``tool_choice`` and
``response_format``. Outbound (core → LangChain): replies, stream events, usage and response
metadata. Nothing here does I/O, builds URLs, headers or wire JSON; the core owns all of that
(tool-call ids, conversation repairs, image checks, forced calls).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, cast

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import (
    invalid_tool_call as make_invalid_tool_call,
)
from langchain_core.messages.tool import (
    tool_call as make_tool_call,
)
from langchain_core.messages.tool import (
    tool_call_chunk as make_tool_call_chunk,
)
from langchain_core.utils.function_calling import convert_to_openai_tool

import cf_mistral as cf

# LangChain passes the forms the core reads: None, bools, "any", names, the OpenAI dicts.
from cf_mistral._forced import read_tool_choice as tool_choice_to_core

__all__ = [
    "MODEL_PROVIDER",
    "event_to_chunk",
    "response_format_to_schema",
    "response_metadata",
    "result_to_message",
    "to_core_messages",
    "to_core_tool",
    "tool_choice_to_core",
    "usage_metadata",
]

MODEL_PROVIDER = "cloudflare"

# Content blocks an assistant turn may carry that Mistral has no input for: another
# provider's reasoning (its signature is meaningless here) and tool-use blocks, whose calls
# LangChain already lists in ``AIMessage.tool_calls`` (sent from there).
_ASSISTANT_BLOCKS_NOT_SENT = frozenset(
    {"reasoning", "thinking", "redacted_thinking", "tool_use", "tool_call", "server_tool_call"}
)


# -- inbound: messages -------------------------------------------------------------------


def to_core_messages(messages: Sequence[BaseMessage]) -> list[cf.Message]:
    """LangChain messages → the core's messages. Raises naming the message and the fix."""
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    converted: list[cf.Message] = []
    for index, original in enumerate(messages):
        message = (
            _from_chat_message(original, index) if isinstance(original, ChatMessage) else original
        )
        if isinstance(message, SystemMessage):
            converted.append(cf.SystemMessage(_user_content(message, index)))
        elif isinstance(message, HumanMessage):
            converted.append(cf.UserMessage(_user_content(message, index)))
        elif isinstance(message, AIMessage):
            converted.append(_assistant(message, index, answered))
        elif isinstance(message, ToolMessage):
            converted.append(
                cf.ToolMessage(
                    tool_call_id=message.tool_call_id,
                    content=_tool_content(message, index),
                    name=message.name,
                )
            )
        else:
            raise cf.InvalidRequestError(
                f"messages[{index}] is a {type(message).__name__}, which Mistral has no role "
                "for: use SystemMessage, HumanMessage, AIMessage or ToolMessage."
            )
    return converted


def _from_chat_message(message: ChatMessage, index: int) -> BaseMessage:
    if message.role in ("user", "human"):
        return HumanMessage(content=message.content)
    if message.role == "system":
        return SystemMessage(content=message.content)
    if message.role in ("assistant", "ai"):
        return AIMessage(content=message.content)
    raise cf.InvalidRequestError(
        f"messages[{index}] is a ChatMessage with role {message.role!r}; Mistral knows the "
        "roles 'system', 'user' and 'assistant' (use ToolMessage for tool results)."
    )


def _user_content(message: BaseMessage, index: int) -> str | list[cf.ContentPart]:
    if isinstance(message.content, str):
        return message.content
    parts: list[cf.ContentPart] = []
    # content_blocks normalises every image form LangChain knows (v0 source_type blocks,
    # v1 base64/url blocks, OpenAI image_url dicts) to standard ``image`` blocks.
    for standard in message.content_blocks:
        block: Mapping[str, Any] = standard
        kind = block.get("type")
        if kind == "text":
            parts.append(cf.TextPart(str(block.get("text", ""))))
        elif kind == "image":
            parts.append(cf.ImagePart(_image_url(dict(block), index)))
        elif kind == "non_standard" and _is_image_url_block(block.get("value")):
            value = block["value"]
            url = value["image_url"]
            parts.append(cf.ImagePart(url if isinstance(url, str) else str(url.get("url", ""))))
        else:
            raise cf.InvalidRequestError(
                f"messages[{index}] has a content block of type "
                f"{_block_type(block)!r}; Mistral Small 3.1 on Workers AI takes text and "
                "images only (PDF, audio, video and file blocks have no input here)."
            )
    return parts


def _is_image_url_block(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("type") == "image_url"


def _block_type(block: Mapping[str, Any]) -> str:
    if block.get("type") == "non_standard" and isinstance(block.get("value"), Mapping):
        return str(block["value"].get("type"))
    return str(block.get("type"))


def _image_url(block: Mapping[str, Any], index: int) -> str:
    source = block.get("source")
    if isinstance(source, Mapping):  # Anthropic's image block
        if source.get("type") == "base64" and source.get("data"):
            return f"data:{source.get('media_type') or 'image/png'};base64,{source['data']}"
        if source.get("type") == "url" and source.get("url"):
            return str(source["url"])
    if block.get("base64"):
        mime = block.get("mime_type") or "image/png"
        return f"data:{mime};base64,{block['base64']}"
    if block.get("url"):
        return str(block["url"])
    raise cf.InvalidRequestError(
        f"messages[{index}] has an image block without base64 data or a URL (file ids are "
        "provider-specific): pass {'type': 'image', 'base64': ..., 'mime_type': ...}."
    )


def _assistant(message: AIMessage, index: int, answered: set[str]) -> cf.AssistantMessage:
    text = _assistant_text(message, index)
    calls = [
        cf.ToolCall(id=call.get("id") or "", name=call["name"], arguments=call["args"])
        for call in message.tool_calls
    ]
    # A malformed call from an earlier reply goes back to the model only when a tool result
    # answers it (Mistral refuses unanswered calls); its arguments as far as they parse.
    for bad in message.invalid_tool_calls:
        if bad.get("id") in answered and bad.get("name"):
            calls.append(
                cf.ToolCall(
                    id=str(bad["id"]), name=str(bad["name"]), arguments=_loose_args(bad.get("args"))
                )
            )
    return cf.AssistantMessage(content=text, tool_calls=tuple(calls))


def _loose_args(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _assistant_text(message: AIMessage, index: int) -> str:
    if isinstance(message.content, str):
        return message.content
    texts = []
    for block in message.content:
        if isinstance(block, str):
            texts.append(block)
            continue
        kind = block.get("type")
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind not in _ASSISTANT_BLOCKS_NOT_SENT:
            raise cf.InvalidRequestError(
                f"messages[{index}] is an assistant message with a {kind!r} block; an "
                "assistant turn sent to Mistral holds text and tool calls only."
            )
    return "".join(texts)


def _tool_content(message: ToolMessage, index: int) -> str:
    content = message.content
    if isinstance(content, str):
        text = content
    else:
        texts = []
        for block in content:
            if isinstance(block, str):
                texts.append(block)
            elif block.get("type") == "text":
                texts.append(str(block.get("text", "")))
            elif block.get("type") == "json" and "json" in block:
                texts.append(json.dumps(block["json"], ensure_ascii=False))
            else:
                raise cf.InvalidRequestError(
                    f"messages[{index}] is a tool result with a {block.get('type')!r} block; "
                    "Workers AI takes tool results as text: put images in a HumanMessage."
                )
        text = "\n".join(texts)
    if message.status == "error" and not text.lower().startswith("error"):
        # The model must know the call failed; Mistral has no status field for it.
        text = f"Error: {text}"
    return text


# -- inbound: tools, tool_choice, response_format ----------------------------------------


def to_core_tool(tool: Any, *, strict: bool | None = None) -> cf.ToolDefinition:
    """Any LangChain tool form (BaseTool, function, Pydantic, TypedDict, dict) → core tool."""
    spec = convert_to_openai_tool(tool, strict=strict)
    function = spec.get("function")
    if spec.get("type") != "function" or not isinstance(function, Mapping):
        raise cf.InvalidRequestError(
            f"Tool {tool!r} is not a function tool: Workers AI runs function tools only "
            "(no provider built-in tools)."
        )
    return cf.ToolDefinition(
        name=str(function["name"]),
        description=str(function.get("description") or ""),
        parameters=function.get("parameters") or {"type": "object", "properties": {}},
    )


def response_format_to_schema(response_format: Any) -> dict[str, Any] | None:
    """OpenAI-style ``response_format`` (as ``create_agent`` binds it) → a JSON schema.

    ``{"type": "json_schema", "json_schema": {"schema": ...}}`` → that schema;
    ``{"type": "json_object"}`` → ``{}`` (any JSON object); a bare JSON schema dict → itself.
    """
    if response_format is None:
        return None
    if not isinstance(response_format, Mapping):
        raise cf.InvalidRequestError(
            f"response_format={response_format!r} is not a dict: pass "
            "{'type': 'json_schema', 'json_schema': {'schema': {...}}} or "
            "{'type': 'json_object'}."
        )
    kind = response_format.get("type")
    if kind == "json_object":
        return {}
    if kind == "json_schema":
        inner = response_format.get("json_schema")
        schema = inner.get("schema") if isinstance(inner, Mapping) else None
        if not isinstance(schema, Mapping):
            raise cf.InvalidRequestError(
                "response_format has type 'json_schema' but no json_schema.schema dict."
            )
        return dict(schema)
    if kind == "text":
        return None
    if "properties" in response_format or kind == "object":
        return dict(response_format)
    raise cf.InvalidRequestError(
        f"response_format type {kind!r} is not understood: use 'json_schema' or 'json_object'."
    )


# -- outbound ---------------------------------------------------------------------------


def usage_metadata(usage: cf.Usage) -> UsageMetadata:
    """LangChain's usage; ``input_token_details.cache_read`` is the cached part of the prompt.

    The detail is given whenever Workers AI reported it (``prompt_tokens_details``, even as
    0), as langchain-openai does, so a cache miss reads as 0 and not as "unknown".
    """
    counts: dict[str, Any] = {
        "input_tokens": usage.prompt_tokens,
        "output_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
    if usage.cached_tokens or "prompt_tokens_details" in usage.extra:
        counts["input_token_details"] = {"cache_read": usage.cached_tokens}
    # mypy misreads UsageMetadata's NotRequired detail keys as required.
    return cast("UsageMetadata", counts)


def response_metadata(result: cf.ChatResult) -> dict[str, Any]:
    """``model_name``, ``model_provider``, ``finish_reason``, ``request_id``, ``cost_usd``,
    ``token_usage``."""
    metadata: dict[str, Any] = {
        "model_name": result.model,
        "model_provider": MODEL_PROVIDER,
        "finish_reason": result.finish_reason,
    }
    if result.request_id:
        metadata["request_id"] = result.request_id
    if result.usage is not None:
        cost = result.cost_usd
        if cost is not None:
            metadata["cost_usd"] = cost
        metadata["token_usage"] = result.usage.to_dict()
    return metadata


def result_to_message(result: cf.ChatResult) -> AIMessage:
    """A complete reply → ``AIMessage`` with tool calls, usage and response metadata."""
    return AIMessage(
        content=result.text,
        tool_calls=[
            make_tool_call(name=call.name, args=dict(call.arguments), id=call.id)
            for call in result.tool_calls
        ],
        invalid_tool_calls=[
            make_invalid_tool_call(
                name=call.name, args=call.arguments, id=call.id, error=call.error
            )
            for call in result.invalid_tool_calls
        ],
        usage_metadata=usage_metadata(result.usage) if result.usage is not None else None,
        response_metadata=response_metadata(result),
        id=f"run-{result.request_id}" if result.request_id else None,
    )


def event_to_chunk(event: cf.StreamEvent) -> AIMessageChunk | None:
    """One stream event → one chunk (``None`` for nothing to say).

    Tool-call deltas keep their ``index`` (LangChain merges chunks by it) and carry the id
    and name on the first delta only. The single usage event becomes the single chunk with
    ``usage_metadata``; the end event carries the response metadata.
    """
    if isinstance(event, cf.TextDelta):
        return AIMessageChunk(content=event.text) if event.text else None
    if isinstance(event, cf.ToolCallDelta):
        return AIMessageChunk(
            content="",
            tool_call_chunks=[
                make_tool_call_chunk(
                    name=event.name, args=event.arguments, id=event.id, index=event.index
                )
            ],
        )
    if isinstance(event, cf.UsageEvent):
        return AIMessageChunk(content="", usage_metadata=usage_metadata(event.usage))
    if isinstance(event, cf.StreamEnd):
        return AIMessageChunk(
            content="", response_metadata=response_metadata(event.result), chunk_position="last"
        )
    return None
