"""A small JSON-Schema validator with Cloudflare-worded errors.

Covers the subset used by the model schema plus what ``guided_json`` schemas usually use:
``type``, ``enum``, ``const``, ``oneOf``/``anyOf``/``allOf``/``not``, ``properties``,
``required``, ``additionalProperties``, ``patternProperties``, ``items``/``prefixItems``,
``minItems``/``maxItems``, ``pattern`` (unanchored, ``re.search`` like ECMA), ``minLength``/
``maxLength``, ``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``,
``multipleOf`` and local ``$ref`` (``#/$defs/..``, ``#/definitions/..``, ``#``).

Messages imitate the observed Workers AI wording, e.g.
``oneOf at '/' not met, 0 matches: required properties at '/' are 'prompt', Type mismatch of
'/messages/0/content', 'array' not in 'string'``.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from importlib import resources
from typing import Any

__all__ = [
    "bad_input",
    "input_schema",
    "json_type",
    "load_model_schema",
    "validate",
]


def json_type(value: Any) -> str:
    """JSON type name of a Python value (``integer`` for whole numbers)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _type_ok(value: Any, wanted: str) -> bool:
    actual = json_type(value)
    if wanted == "number":
        return actual in ("integer", "number")
    return actual == wanted


def _child(path: str, key: str | int) -> str:
    token = str(key).replace("~", "~0").replace("/", "~1")
    return f"/{token}" if path == "/" else f"{path}/{token}"


def _resolve(ref: str, root: Any) -> Any:
    if not ref.startswith("#"):
        raise ValueError(f"only local $ref supported, got {ref!r}")
    node = root
    for raw in ref[1:].split("/"):
        if raw == "":
            continue
        part = raw.replace("~1", "/").replace("~0", "~")
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


@functools.lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _fmt_num(value: Any) -> str:
    return json.dumps(value)


def _errors(inst: Any, schema: Any, path: str, root: Any) -> list[str]:
    if schema is True or schema is None:
        return []
    if schema is False:
        return [f"False boolean schema at '{path}'"]
    if not isinstance(schema, dict):
        return []
    out: list[str] = []
    if "$ref" in schema:
        out.extend(_errors(inst, _resolve(schema["$ref"], root), path, root))

    if "type" in schema:
        wanted = schema["type"]
        types = wanted if isinstance(wanted, list) else [wanted]
        if not any(_type_ok(inst, t) for t in types):
            listed = ", ".join(f"'{t}'" for t in types)
            return [*out, f"Type mismatch of '{path}', '{json_type(inst)}' not in {listed}"]

    if "const" in schema and inst != schema["const"]:
        out.append(f"Value at '{path}' does not match const {json.dumps(schema['const'])}")
    if "enum" in schema and inst not in schema["enum"]:
        out.append(f"Value at '{path}' is not one of the enum values {json.dumps(schema['enum'])}")

    if "oneOf" in schema:
        branch_errors: list[str] = []
        matches = 0
        for sub in schema["oneOf"]:
            errs = _errors(inst, sub, path, root)
            if errs:
                branch_errors.extend(errs)
            else:
                matches += 1
        if matches != 1:
            msg = f"oneOf at '{path}' not met, {matches} matches"
            if matches == 0 and branch_errors:
                msg += ": " + ", ".join(branch_errors)
            out.append(msg)
    if "anyOf" in schema:
        branch_errors = []
        for sub in schema["anyOf"]:
            errs = _errors(inst, sub, path, root)
            if not errs:
                break
            branch_errors.extend(errs)
        else:
            out.append(f"anyOf at '{path}' not met: " + ", ".join(branch_errors))
    for sub in schema.get("allOf", []):
        out.extend(_errors(inst, sub, path, root))
    if "not" in schema and not _errors(inst, schema["not"], path, root):
        out.append(f"Value at '{path}' matches a 'not' schema")

    if isinstance(inst, dict):
        required = schema.get("required")
        if isinstance(required, list):
            missing = [k for k in required if k not in inst]
            if missing:
                names = ", ".join(f"'{k}'" for k in missing)
                out.append(f"required properties at '{path}' are {names}")
        props: dict[str, Any] = schema.get("properties") or {}
        pattern_props: dict[str, Any] = schema.get("patternProperties") or {}
        extra: list[str] = []
        for key, value in inst.items():
            matched = False
            if key in props:
                matched = True
                out.extend(_errors(value, props[key], _child(path, key), root))
            for pat, sub in pattern_props.items():
                rx = _compile(pat)
                if rx is not None and rx.search(key):
                    matched = True
                    out.extend(_errors(value, sub, _child(path, key), root))
            if not matched:
                extra.append(key)
        addl = schema.get("additionalProperties", True)
        if extra and addl is False:
            listed = ", ".join(_child(path, k) for k in extra)
            out.append(f"Additional or unevaluated properties '{listed}' at '{path}' not allowed")
        elif extra and isinstance(addl, dict):
            for key in extra:
                out.extend(_errors(inst[key], addl, _child(path, key), root))
        if "minProperties" in schema and len(inst) < schema["minProperties"]:
            out.append(f"Object at '{path}' has fewer than {schema['minProperties']} properties")
        if "maxProperties" in schema and len(inst) > schema["maxProperties"]:
            out.append(f"Object at '{path}' has more than {schema['maxProperties']} properties")

    elif isinstance(inst, list):
        prefix = schema.get("prefixItems")
        items = schema.get("items")
        start = 0
        if isinstance(prefix, list):
            for i, sub in enumerate(prefix[: len(inst)]):
                out.extend(_errors(inst[i], sub, _child(path, i), root))
            start = len(prefix)
        if isinstance(items, list):  # draft-07 tuple form
            for i, sub in enumerate(items[: len(inst)]):
                out.extend(_errors(inst[i], sub, _child(path, i), root))
        elif items is not None:
            for i in range(start, len(inst)):
                out.extend(_errors(inst[i], items, _child(path, i), root))
        if "minItems" in schema and len(inst) < schema["minItems"]:
            out.append(f"Array at '{path}' has fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(inst) > schema["maxItems"]:
            out.append(f"Array at '{path}' has more than {schema['maxItems']} items")
        if schema.get("uniqueItems"):
            seen = [json.dumps(x, sort_keys=True) for x in inst]
            if len(set(seen)) != len(seen):
                out.append(f"Array at '{path}' has duplicate items")

    elif isinstance(inst, str):
        if "minLength" in schema and len(inst) < schema["minLength"]:
            out.append(f"String at '{path}' is shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(inst) > schema["maxLength"]:
            out.append(f"String at '{path}' is longer than {schema['maxLength']} characters")
        if "pattern" in schema:
            rx = _compile(schema["pattern"])
            if rx is not None and not rx.search(inst):
                out.append(f"String at '{path}' does not match pattern '{schema['pattern']}'")

    elif isinstance(inst, (int, float)) and not isinstance(inst, bool):
        if "minimum" in schema and inst < schema["minimum"]:
            out.append(
                f"Value {_fmt_num(inst)} at '{path}' is less than minimum "
                f"{_fmt_num(schema['minimum'])}"
            )
        if "maximum" in schema and inst > schema["maximum"]:
            out.append(
                f"Value {_fmt_num(inst)} at '{path}' is greater than maximum "
                f"{_fmt_num(schema['maximum'])}"
            )
        exmin = schema.get("exclusiveMinimum")
        if isinstance(exmin, (int, float)) and not isinstance(exmin, bool) and inst <= exmin:
            out.append(f"Value {_fmt_num(inst)} at '{path}' is not greater than {_fmt_num(exmin)}")
        exmax = schema.get("exclusiveMaximum")
        if isinstance(exmax, (int, float)) and not isinstance(exmax, bool) and inst >= exmax:
            out.append(f"Value {_fmt_num(inst)} at '{path}' is not less than {_fmt_num(exmax)}")
        mult = schema.get("multipleOf")
        if isinstance(mult, (int, float)) and mult and (inst / mult) % 1:
            out.append(f"Value {_fmt_num(inst)} at '{path}' is not a multiple of {mult}")
    return out


def validate(instance: Any, schema: Any, root: Any = None) -> list[str]:
    """All error messages for ``instance`` against ``schema`` (empty list: valid)."""
    return _errors(instance, schema, "/", schema if root is None else root)


def bad_input(errors: list[str]) -> str:
    """The 5006 message for a list of validation errors."""
    return "AiError: Bad input: Error: " + ", ".join(errors)


@functools.lru_cache(maxsize=1)
def load_model_schema() -> dict[str, Any]:
    """The published model schema (``cf_mistral/_data/model-schema.json``)."""
    text = resources.files("cf_mistral._data").joinpath("model-schema.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _strip_property_requirements(schema: dict[str, Any]) -> None:
    """Drop the per-property ``required: [type, description]`` of tool parameters."""
    tools = schema["oneOf"][1]["properties"]["tools"]["items"]["oneOf"]
    for branch in tools:
        holder = branch["properties"]
        if "function" in holder:
            holder = holder["function"]["properties"]
        addl = holder["parameters"]["properties"]["properties"]["additionalProperties"]
        addl.pop("required", None)


@functools.lru_cache(maxsize=4)
def input_schema(
    strict_tool_properties: bool = False, tool_id_pattern: bool = True
) -> dict[str, Any]:
    """The model's input schema; without ``strict_tool_properties`` tool parameter
    properties need not each declare ``type`` and ``description``; without
    ``tool_id_pattern`` the (unanchored) ``tool_call_id`` pattern is dropped."""
    schema: dict[str, Any] = copy.deepcopy(load_model_schema()["schema"]["input"])
    if not strict_tool_properties:
        _strip_property_requirements(schema)
    if not tool_id_pattern:
        item = schema["oneOf"][1]["properties"]["messages"]["items"]
        item["properties"]["tool_call_id"].pop("pattern", None)
    return schema


def declared_keys() -> frozenset[str]:
    """Top-level keys the input schema declares (union of both forms)."""
    keys: set[str] = set()
    for branch in input_schema()["oneOf"]:
        keys.update(branch.get("properties", {}))
    return frozenset(keys)
