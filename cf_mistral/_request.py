"""Neutral request → wire body for ``/ai/run`` (WIRE-FORMAT §2, §5, §6, §8).

Rules this module enforces, each learned from the server or from Cloudflare's own clients:
``max_tokens`` always explicit (the server default of 256 truncates silently); tools in the
OpenAI form with a ``description`` everywhere the schema demands one; no ``tool_choice``, no
``response_format``, no ``null`` values and no key outside the model's schema; assistant tool
turns as ``content: ""`` plus ``tool_calls`` with JSON-string arguments; tool results as
``role: tool`` with a nine-character ``tool_call_id``, the tool ``name`` and string content;
images only as data URLs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cf_mistral._conversation import check_conversation
from cf_mistral._errors import InvalidRequestError
from cf_mistral._forced import ForcedToolPlan, plan_forced_tool_call
from cf_mistral._images import check_data_url, is_remote_url
from cf_mistral._schema import (
    DEFAULT_MAX_TOKENS,
    MODEL_INPUT_KEYS,
    SAMPLING_PARAMETERS,
    check_sampling_params,
)
from cf_mistral._tool_ids import to_mistral_tool_call_id
from cf_mistral._types import (
    AssistantMessage,
    ChatRequest,
    ContentPart,
    ImagePart,
    Message,
    SystemMessage,
    TextPart,
    ToolDefinition,
    ToolMessage,
    UserMessage,
)

__all__ = ["PreparedCall", "prepare_call", "remote_image_urls", "tool_to_wire"]

_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
# Keys that have their own field on ChatRequest and must not come in through params.
_STRUCTURAL_KEYS = {
    "messages": "messages",
    "prompt": "prompt",
    "raw": "raw",
    "stream": "the stream() method",
    "tools": "tools",
    "guided_json": "response_schema",
}


@dataclass(frozen=True, slots=True)
class PreparedCall:
    """The wire body plus what reading the reply needs to know about the request."""

    body: dict[str, Any]
    tool_names: frozenset[str]
    forced: ForcedToolPlan | None
    stop: tuple[str, ...]
    max_tokens: int
    json_reply: bool


def remote_image_urls(request: ChatRequest) -> list[str]:
    """The http(s) image URLs in ``request``, which must be inlined before sending."""
    urls: list[str] = []
    for message in request.messages:
        content = getattr(message, "content", "")
        if not isinstance(content, (list, tuple)):
            continue  # text, or a wrong type that prepare_call refuses with a clear message
        urls.extend(
            part.url for part in content if isinstance(part, ImagePart) and is_remote_url(part.url)
        )
    return urls


def prepare_call(
    request: ChatRequest,
    *,
    stream: bool,
    inlined_images: Mapping[str, str] | None = None,
) -> PreparedCall:
    """Validate ``request`` and build its wire body. Raises before anything is sent."""
    params = _check_params(request.params)
    max_tokens = int(params.setdefault("max_tokens", DEFAULT_MAX_TOKENS))
    stop = _check_stop(request.stop)
    tools = [_check_tool(tool, index) for index, tool in enumerate(request.tools)]
    tool_choice = request.tool_choice
    forced = plan_forced_tool_call(tools, tool_choice)

    body: dict[str, Any]
    if request.prompt is not None:
        if request.messages:
            raise InvalidRequestError(
                "Pass either messages or prompt, not both: prompt is the raw prompt form."
            )
        if not request.prompt:
            raise InvalidRequestError("prompt is empty: the model needs at least one character.")
        if tools:
            raise InvalidRequestError(
                "Tools need the messages form: pass messages instead of prompt."
            )
        body = {"prompt": request.prompt}
        if request.raw:
            body["raw"] = True
    else:
        _check_contents(request.messages)
        messages = check_conversation(request.messages)
        if forced is not None:
            messages = _with_system_note(messages, forced.note)
        body = {"messages": _messages_to_wire(messages, inlined_images or {})}
        if tools and forced is None and tool_choice != "none":
            body["tools"] = [tool_to_wire(tool) for tool in tools]

    guided = forced.guided_json if forced is not None else request.response_schema
    if guided is not None:
        if not isinstance(guided, Mapping):
            raise InvalidRequestError(
                "response_schema must be a JSON Schema object (a dict), got "
                f"{type(guided).__name__}."
            )
        body["guided_json"] = dict(guided)
    body.update(params)
    if stream:
        body["stream"] = True
    return PreparedCall(
        body=body,
        tool_names=frozenset(tool.name for tool in tools),
        forced=forced,
        stop=stop,
        max_tokens=max_tokens,
        json_reply=guided is not None,
    )


def _check_params(params: Mapping[str, Any]) -> dict[str, Any]:
    for key in params:
        if key == "functions":
            raise InvalidRequestError(
                "'functions' is Workers AI's deprecated embedded function calling; pass tools "
                "instead (the OpenAI tool format)."
            )
        if key in _STRUCTURAL_KEYS:
            raise InvalidRequestError(
                f"{key!r} cannot be passed as a parameter: use {_STRUCTURAL_KEYS[key]}."
            )
        if key not in MODEL_INPUT_KEYS:
            allowed = ", ".join(SAMPLING_PARAMETERS)
            hint = (
                " Workers AI has no stop parameter: pass stop sequences as stop=[...], which "
                "the client applies."
                if key == "stop"
                else ""
            )
            raise InvalidRequestError(
                f"{key!r} is not a parameter of {_model_label()}; the server would reject or "
                f"ignore it. The parameters are: {allowed}.{hint}"
            )
    return check_sampling_params(dict(params))


def _model_label() -> str:
    return "@cf/mistralai/mistral-small-3.1-24b-instruct"


def _check_stop(stop: Sequence[str] | str | None) -> tuple[str, ...]:
    if stop is None:
        return ()
    if isinstance(stop, str):
        stop = [stop]
    for item in stop:
        if not isinstance(item, str) or not item:
            raise InvalidRequestError(f"stop sequences must be non-empty strings; got {item!r}.")
    return tuple(stop)


def _check_tool(tool: ToolDefinition, index: int) -> ToolDefinition:
    if not isinstance(tool, ToolDefinition):
        raise InvalidRequestError(f"tools[{index}] is not a ToolDefinition: {tool!r}")
    if not _TOOL_NAME.fullmatch(tool.name or ""):
        raise InvalidRequestError(
            f"tools[{index}] has name {tool.name!r}: a tool name is 1 to 64 characters of "
            "letters, digits, '_' and '-'."
        )
    parameters = tool.parameters
    if not isinstance(parameters, Mapping):
        raise InvalidRequestError(
            f"Tool {tool.name!r}: parameters must be a JSON Schema object (a dict), got "
            f"{type(parameters).__name__}."
        )
    schema_type = parameters.get("type", "object")
    if schema_type != "object":
        raise InvalidRequestError(
            f"Tool {tool.name!r}: parameters must be a JSON Schema of type 'object' (the "
            f"arguments object), got type {schema_type!r}."
        )
    properties = parameters.get("properties", {})
    if not isinstance(properties, Mapping) or not all(
        isinstance(spec, Mapping) for spec in properties.values()
    ):
        raise InvalidRequestError(
            f"Tool {tool.name!r}: parameters.properties must map each argument name to a "
            "JSON Schema (a dict)."
        )
    required = parameters.get("required", [])
    if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
        raise InvalidRequestError(
            f"Tool {tool.name!r}: parameters.required must be a list of argument names."
        )
    return tool


def tool_to_wire(tool: ToolDefinition) -> dict[str, Any]:
    """The OpenAI tool form, with the ``description`` fields the model schema requires."""
    parameters = dict(tool.parameters)
    parameters.setdefault("type", "object")
    properties = {
        name: spec if "description" in spec else {**spec, "description": ""}
        for name, spec in dict(parameters.get("properties", {})).items()
    }
    parameters["properties"] = properties
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description or "",
            "parameters": parameters,
        },
    }


def _with_system_note(messages: list[Message], note: str) -> list[Message]:
    first = messages[0]
    if isinstance(first, SystemMessage) and isinstance(first.content, str):
        return [
            SystemMessage(f"{first.content}\n\n{note}" if first.content else note),
            *messages[1:],
        ]
    return [SystemMessage(note), *messages]


def _messages_to_wire(
    messages: Sequence[Message], inlined_images: Mapping[str, str]
) -> list[dict[str, Any]]:
    wire: list[dict[str, Any]] = []
    tool_names: dict[str, str] = {}
    for message in messages:
        if isinstance(message, AssistantMessage):
            if message.tool_calls:
                calls = []
                for call in message.tool_calls:
                    wire_id = to_mistral_tool_call_id(call.id)
                    tool_names[wire_id] = call.name
                    calls.append(
                        {
                            "id": wire_id,
                            "type": "function",
                            "function": {
                                "name": call.name,
                                "arguments": json.dumps(dict(call.arguments), ensure_ascii=False),
                            },
                        }
                    )
                wire.append({"role": "assistant", "content": "", "tool_calls": calls})
            else:
                wire.append({"role": "assistant", "content": message.content})
        elif isinstance(message, ToolMessage):
            wire_id = to_mistral_tool_call_id(message.tool_call_id)
            item: dict[str, Any] = {
                "role": "tool",
                "tool_call_id": wire_id,
                "content": message.content,
            }
            name = message.name or tool_names.get(wire_id)
            if name:
                item["name"] = name
            wire.append(item)
        else:
            role = "system" if isinstance(message, SystemMessage) else "user"
            wire.append(
                {"role": role, "content": _content_to_wire(message.content, inlined_images)}
            )
    return wire


def _check_contents(messages: Sequence[Message]) -> None:
    """Refuse content of the wrong type (``None`` above all) with the message's index.

    Without this, ``None`` fails deep in wire building as a bare ``TypeError``, or is sent as
    ``null``, which the chat template rejects after a round trip (WIRE-FORMAT §5.4).
    """
    for index, message in enumerate(messages):
        content = getattr(message, "content", "")
        if isinstance(content, str):
            continue
        multimodal = isinstance(message, (SystemMessage, UserMessage))
        if multimodal and isinstance(content, (list, tuple)):
            continue
        expected = "a string or a list of TextPart / ImagePart" if multimodal else "a string"
        raise InvalidRequestError(
            f"messages[{index}] ({type(message).__name__}) has content of type "
            f"{type(content).__name__}: pass {expected} ('' when there is no text)."
        )


def _content_to_wire(
    content: str | Sequence[ContentPart], inlined_images: Mapping[str, str]
) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, TextPart):
            parts.append({"type": "text", "text": part.text})
        elif isinstance(part, ImagePart):
            url = inlined_images.get(part.url, part.url)
            parts.append({"type": "image_url", "image_url": {"url": check_data_url(url)}})
        else:
            raise InvalidRequestError(
                f"Unsupported content part {part!r}: use TextPart or ImagePart."
            )
    return parts
