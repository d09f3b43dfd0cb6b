"""Tool calls from any reply shape → :class:`ToolCall` or :class:`InvalidToolCall`.

Shared by the reply parser and the stream accumulator. Nothing is dropped: arguments that are
not a JSON object, a missing name or a name that was never declared give an invalid tool call
carrying the reason, never a crash and never ``{}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from cf_mistral._tool_ids import mint_tool_call_id, to_mistral_tool_call_id
from cf_mistral._types import InvalidToolCall, ToolCall

__all__ = ["assemble_tool_call", "read_wire_tool_call", "salvage_leaked_tool_calls"]

_LEAK_MARKER = "[TOOL_CALLS]"


def read_wire_tool_call(item: Any) -> tuple[str | None, str | None, Any]:
    """(id, name, arguments) of one ``tool_calls`` item, flat or OpenAI-shaped."""
    if not isinstance(item, Mapping):
        return None, None, item
    function = item.get("function")
    if isinstance(function, Mapping):
        name = function.get("name")
        arguments = function.get("arguments")
    else:
        name = item.get("name")
        arguments = item.get("arguments", item.get("parameters"))
    call_id = item.get("id")
    return (
        str(call_id) if call_id else None,
        str(name) if name else None,
        arguments,
    )


def assemble_tool_call(
    call_id: str | None,
    name: str | None,
    arguments: Any,
    *,
    declared: frozenset[str],
    taken_ids: set[str],
) -> ToolCall | InvalidToolCall:
    """One complete tool call, checked. ``arguments``: an object, JSON text, or ``None``."""
    wire_id = to_mistral_tool_call_id(call_id) if call_id else mint_tool_call_id(taken_ids)
    taken_ids.add(wire_id)
    if arguments is None or arguments == "":
        arguments = {}
    text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError as error:
            return InvalidToolCall(wire_id, name, text, f"arguments are not valid JSON: {error}")
    if not isinstance(arguments, Mapping):
        return InvalidToolCall(
            wire_id, name, text, f"arguments must be a JSON object, got {type(arguments).__name__}"
        )
    if not name:
        return InvalidToolCall(wire_id, None, text, "the tool call has no name")
    if declared and name not in declared:
        listing = ", ".join(sorted(declared))
        return InvalidToolCall(
            wire_id, name, text, f"the model called {name!r}, which is not a bound tool ({listing})"
        )
    return ToolCall(wire_id, name, dict(arguments))


def salvage_leaked_tool_calls(text: str, declared: Iterable[str]) -> list[tuple[str, Any]] | None:
    """Tool calls the model wrote as text instead of ``tool_calls`` (WIRE-FORMAT §5.2).

    Accepts an optional leading ``[TOOL_CALLS]``, then one JSON object or an array of them in
    the forms ``{"name", "arguments"}``, ``{"name", "parameters"}`` or ``{"name", ...args}``.
    Only when every name is a declared tool; otherwise ``None`` and the text stays text.
    """
    names = set(declared)
    if not names:
        return None
    candidate = text.strip()
    if candidate.startswith(_LEAK_MARKER):
        candidate = candidate[len(_LEAK_MARKER) :].strip()
    if not candidate.startswith(("{", "[")):
        return None
    try:
        value = json.loads(candidate)
    except ValueError:
        return None
    items = value if isinstance(value, list) else [value]
    calls: list[tuple[str, Any]] = []
    for item in items:
        # The name may be any JSON value (a list is unhashable): only a declared string counts.
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            return None
        if item["name"] not in names:
            return None
        if "arguments" in item:
            arguments = item["arguments"]
        elif "parameters" in item:
            arguments = item["parameters"]
        else:
            arguments = {key: val for key, val in item.items() if key != "name"}
        calls.append((str(item["name"]), arguments))
    return calls or None
