"""Forced tool calls by constrained decoding.

This model has no ``tool_choice`` parameter (the server answers 400), so a forced call is made
with ``guided_json`` instead: for one allowed tool the reply is constrained to that tool's
parameter schema and read back as a call to it; for several, to ``{"name": ..., "arguments":
...}`` where ``name`` selects exactly one of them. The tools are described in a system note so
the model knows what it is filling in.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cf_mistral._errors import InvalidRequestError
from cf_mistral._types import ToolDefinition

__all__ = ["ForcedToolPlan", "plan_forced_tool_call", "read_forced_call", "read_tool_choice"]

_FORCING_CHOICES = ("required", "any")
_KEYWORD_CHOICES = ("auto", "none", "required", "any")


def read_tool_choice(choice: object) -> str | None:
    """A framework's ``tool_choice`` in the core's vocabulary (both adapters take these forms).

    ``None`` → not given; ``False`` → ``"none"``; ``True`` and ``"any"`` → ``"required"``; any
    other string as is (``"auto"``, ``"none"``, ``"required"`` or a tool name); the OpenAI
    forms ``{"type": "function", "function": {"name": ...}}``, ``{"name": ...}`` and
    ``{"type": "auto" | "none" | "required" | "any"}``. Anything else is refused by name.
    """
    if choice is None:
        return None
    if isinstance(choice, bool):
        return "required" if choice else "none"
    if isinstance(choice, str):
        return "required" if choice == "any" else choice
    if isinstance(choice, Mapping):
        function = choice.get("function")
        name = (function.get("name") if isinstance(function, Mapping) else None) or choice.get(
            "name"
        )
        kind = choice.get("type")
        if name and kind in ("auto", "none"):
            raise InvalidRequestError(
                f"tool_choice={choice!r} names the tool {name!r} but says {kind!r}: pass "
                f"{{'type': 'function', 'function': {{'name': {name!r}}}}} to force that tool, "
                f"or {kind!r} alone."
            )
        if isinstance(name, str) and name:
            return name
        if not name and kind in _KEYWORD_CHOICES:
            return read_tool_choice(kind)
    raise InvalidRequestError(
        f"tool_choice={choice!r} is not understood: pass 'auto', 'none', 'any', 'required', "
        "True, a tool name or {'type': 'function', 'function': {'name': ...}}."
    )


@dataclass(frozen=True, slots=True)
class ForcedToolPlan:
    """How a forced call is sent (``guided_json`` + ``note``) and read back (``tool_names``)."""

    tool_names: tuple[str, ...]
    guided_json: dict[str, Any]
    note: str

    @property
    def single(self) -> str | None:
        return self.tool_names[0] if len(self.tool_names) == 1 else None


def plan_forced_tool_call(
    tools: Sequence[ToolDefinition], tool_choice: str | None
) -> ForcedToolPlan | None:
    """``None`` when ``tool_choice`` does not force a call, else the plan for the forced call."""
    if tool_choice is None or tool_choice in ("auto", "none"):
        return None
    if not tools:
        raise InvalidRequestError(
            f"tool_choice={tool_choice!r} forces a tool call, but no tools were given: bind "
            "tools first, or use tool_choice='auto'."
        )
    if tool_choice in _FORCING_CHOICES:
        chosen = list(tools)
    else:
        chosen = [tool for tool in tools if tool.name == tool_choice]
        if not chosen:
            names = ", ".join(repr(tool.name) for tool in tools)
            raise InvalidRequestError(
                f"tool_choice={tool_choice!r} names no bound tool; the tools are {names}. "
                "Pass one of those names, 'auto', 'none' or 'required'."
            )
    if len(chosen) == 1:
        tool = chosen[0]
        schema = _object_schema(tool.parameters)
        note = (
            f"Call the tool `{tool.name}` now. {tool.description}".rstrip()
            + " Reply only with the JSON arguments for it."
        )
        return ForcedToolPlan((tool.name,), schema, note)
    branches = []
    defs: dict[str, Any] = {}
    for tool in chosen:
        parameters = _hoist_definitions(_object_schema(tool.parameters), tool.name, defs)
        branches.append(
            {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "enum": [tool.name]},
                    "arguments": parameters,
                },
                "required": ["name", "arguments"],
            }
        )
    guided: dict[str, Any] = {"anyOf": branches}
    if defs:
        guided["$defs"] = defs
    listing = "\n".join(f"- `{tool.name}`: {tool.description}".rstrip(": ") for tool in chosen)
    note = (
        "Call exactly one of these tools now:\n"
        f"{listing}\n"
        'Reply only with JSON: {"name": <tool name>, "arguments": <its arguments>}.'
    )
    return ForcedToolPlan(tuple(tool.name for tool in chosen), guided, note)


def read_forced_call(plan: ForcedToolPlan, value: Any) -> tuple[str | None, str]:
    """The tool name and JSON argument text of a forced reply (name ``None`` if unreadable)."""
    if plan.single is not None:
        return plan.single, value if isinstance(value, str) else json.dumps(value)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None, value
    if isinstance(value, Mapping) and value.get("name") in plan.tool_names:
        arguments = value.get("arguments", {})
        text = arguments if isinstance(arguments, str) else json.dumps(arguments)
        return str(value["name"]), text
    return None, json.dumps(value)


def _object_schema(parameters: Mapping[str, Any]) -> dict[str, Any]:
    schema = copy.deepcopy(dict(parameters))
    schema.setdefault("type", "object")
    schema.setdefault("properties", {})
    if not schema["properties"]:
        # A tool without parameters takes exactly {}; an open object invites invented keys.
        schema.setdefault("additionalProperties", False)
    return schema


def _hoist_definitions(schema: dict[str, Any], prefix: str, defs: dict[str, Any]) -> dict[str, Any]:
    """Move a tool's ``$defs`` to the top level under prefixed names, rewriting its ``$ref``s.

    A schema nested under ``anyOf`` can no longer reach its own ``#/$defs/...``.
    """
    local = {**schema.pop("$defs", {}), **schema.pop("definitions", {})}
    if not local:
        return schema
    renamed = {name: f"{prefix}__{name}" for name in local}

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                out[key] = _renamed_ref(value, renamed) if key == "$ref" else rewrite(value)
            return out
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    for name, definition in local.items():
        defs[renamed[name]] = rewrite(definition)
    rewritten: dict[str, Any] = rewrite(schema)
    return rewritten


def _renamed_ref(ref: Any, renamed: Mapping[str, str]) -> Any:
    if isinstance(ref, str):
        for root in ("#/$defs/", "#/definitions/"):
            if ref.startswith(root) and ref[len(root) :] in renamed:
                return "#/$defs/" + renamed[ref[len(root) :]]
    return ref
