"""The deterministic stand-in model.

**This is not a language model.**  It exists so that clients can be tested end to end
without network access, and it answers the same request with the same text every time:

1. a :class:`ScriptedReply` queued by the test wins;
2. with ``guided_json`` (or an OpenAI ``response_format``) it generates a value valid
   against that JSON schema (strings and numbers taken from the prompt where possible);
3. with ``tools`` and a last user message that names a tool (case-insensitive; ``_`` may
   be written as a space, camelCase as separate words) it calls every tool named, in the
   order they are named, with arguments drawn from the prompt;
4. when the conversation ends with tool results it answers
   ``"Based on the tool results: <content>; <content>"``;
5. otherwise it echoes: ``"You said: <last user text>"`` followed by
   ``" [N image(s) received]"``, ``" [system: <system prompt>]"`` and
   ``" [context: <earlier turns joined by ' | '>]"`` when present.

Token counts come from :func:`count_tokens` (regex ``\\w+|[^\\w\\s]``, minimum 1) over all
message text (prompt) and over the reply (completion).  The reply is cut at ``max_tokens``
tokens (default 256), and then ``completion_tokens == max_tokens``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ._faults import Fault
from ._types import ScriptedReply
from ._validate import _resolve, validate

__all__ = [
    "Reply",
    "count_tokens",
    "generate_reply",
    "generate_value",
    "message_text",
    "split_pieces",
]

_TOKEN_RE = re.compile(r"\w+|[^\w\s]")
_PIECE_RE = re.compile(r"\s*(?:\w+|[^\w\s])")
_NUMBER_RE = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w])")
_DQUOTE_RE = re.compile(r'"([^"]+)"')
_SQUOTE_RE = re.compile(r"(?<!\w)'([^']+)'(?!\w)")
_WORD_RE = re.compile(r"[A-Za-z][\w'-]*")
_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def count_tokens(text: str) -> int:
    """Deterministic token count: number of ``\\w+|[^\\w\\s]`` matches, at least 1."""
    return max(1, len(_TOKEN_RE.findall(text)))


def split_pieces(text: str) -> list[str]:
    """Stream deltas: one per token, each with its leading whitespace.

    ``"".join(split_pieces(t)) == t`` and ``len(split_pieces(t))`` equals the number of
    tokens (trailing whitespace is glued to the last piece).
    """
    pieces: list[str] = _PIECE_RE.findall(text)
    used = sum(map(len, pieces))
    if used < len(text):
        if pieces:
            pieces[-1] += text[used:]
        else:
            pieces = [text]
    return pieces


def message_text(content: Any) -> str:
    """The text of a message ``content`` (string, part list or single part)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    if isinstance(content, list):
        texts = [
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type", "text") == "text" and "text" in p
        ]
        return " ".join(texts)
    return str(content)


def _image_count(content: Any) -> int:
    if isinstance(content, dict):
        content = [content]
    if isinstance(content, list):
        return sum(1 for p in content if isinstance(p, dict) and p.get("type") == "image_url")
    return 0


# ----------------------------------------------------------------------------------------
# values from a JSON schema


class _Source:
    """Strings and numbers harvested from the prompt, handed out in order."""

    def __init__(self, text: str, exclude: tuple[str, ...] = ()) -> None:
        self.text = text
        lowered_excl = {e.lower() for e in exclude}
        quoted = _DQUOTE_RE.findall(text) + _SQUOTE_RE.findall(text)
        capitalised: list[str] = []
        others: list[str] = []
        sentence_start = True
        for m in re.finditer(r"[A-Za-z][\w'-]*|[.!?]", text):
            tok = m.group(0)
            if tok in ".!?":
                sentence_start = True
                continue
            word = tok.strip("'-")
            if word.lower() in lowered_excl or word.endswith("'s"):
                sentence_start = False
                continue
            if word[:1].isupper() and not sentence_start and word != "I":
                capitalised.append(word)
            elif len(word) > 3:
                others.append(word)
            sentence_start = False
        self.strings: list[str] = [q.strip() for q in quoted if q.strip()] + capitalised
        self.fallback_words = others
        self.numbers: list[float] = [float(n) for n in _NUMBER_RE.findall(text)]
        self._si = 0
        self._ni = 0

    def string(self) -> str | None:
        if self.strings:
            value = self.strings[self._si % len(self.strings)]
            self._si += 1
            return value
        if self.fallback_words:
            return self.fallback_words[-1]
        return None

    def all_strings(self) -> list[str]:
        return [*self.strings, *self.fallback_words]

    def number(self) -> float | None:
        if self._ni < len(self.numbers):
            value = self.numbers[self._ni]
            self._ni += 1
            return value
        return None


def _merge_all_of(schema: dict[str, Any], root: Any) -> dict[str, Any]:
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for entry in schema["allOf"]:
        sub = (
            _resolve(entry["$ref"], root) if isinstance(entry, dict) and "$ref" in entry else entry
        )
        if not isinstance(sub, dict):
            continue
        for key, value in sub.items():
            if key == "properties":
                merged.setdefault("properties", {}).update(value)
            elif key == "required":
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


_FORMAT_SAMPLES = {
    "date": "2024-01-01",
    "date-time": "2024-01-01T00:00:00Z",
    "time": "00:00:00",
    "email": "user@example.com",
    "uri": "https://example.com",
    "url": "https://example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
}


def _gen_string(schema: dict[str, Any], src: _Source, name: str) -> str:
    fmt = schema.get("format")
    candidates: list[str] = []
    if isinstance(fmt, str) and fmt in _FORMAT_SAMPLES:
        candidates.append(_FORMAT_SAMPLES[fmt])
    first = src.string()
    if first is not None:
        candidates.append(first)
    candidates.extend(src.all_strings())
    candidates.extend([name or "value", "value", "abc123XYZ", "a", "0", *_FORMAT_SAMPLES.values()])
    min_len = int(schema.get("minLength", 0))
    max_len = schema.get("maxLength")
    check = {k: v for k, v in schema.items() if k != "format"}
    has_pattern = "pattern" in schema
    for cand in candidates:
        variants = [cand, cand.upper(), cand.lower()] if has_pattern else [cand]
        for variant in variants:
            lengths = range(len(variant), 0, -1) if has_pattern else [len(variant)]
            for n in lengths:
                value = variant[:n]
                if len(value) < min_len:
                    value = value + "x" * (min_len - len(value))
                if isinstance(max_len, int) and len(value) > max_len:
                    value = value[:max_len]
                if not validate(value, check):
                    return value
    return candidates[0]


def _gen_number(schema: dict[str, Any], src: _Source, integer: bool) -> int | float:
    value = src.number()
    if value is None:
        value = 1.0
    lo = schema.get("minimum")
    hi = schema.get("maximum")
    exlo = schema.get("exclusiveMinimum")
    exhi = schema.get("exclusiveMaximum")
    step = 1.0 if integer else 0.5
    if isinstance(exlo, (int, float)) and not isinstance(exlo, bool) and value <= exlo:
        value = exlo + step
    if isinstance(exhi, (int, float)) and not isinstance(exhi, bool) and value >= exhi:
        value = exhi - step
    if isinstance(lo, (int, float)) and value < lo:
        value = float(lo)
    if isinstance(hi, (int, float)) and value > hi:
        value = float(hi)
    if integer:
        ivalue = int(value)
        if isinstance(lo, (int, float)) and ivalue < lo:
            ivalue += 1
        return ivalue
    return int(value) if float(value).is_integer() else value


def generate_value(
    schema: Any,
    src: _Source | str,
    *,
    root: Any = None,
    name: str = "",
    all_properties: bool = True,
    depth: int = 0,
) -> Any:
    """A value valid against ``schema``, drawing strings/numbers from ``src``."""
    if isinstance(src, str):
        src = _Source(src)
    if root is None:
        root = schema
    if not isinstance(schema, dict) or depth > 12:
        return {} if depth == 0 else None
    if "$ref" in schema:
        target = _resolve(schema["$ref"], root)
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        if isinstance(target, dict):
            rest = {**target, **rest}
        return generate_value(
            rest, src, root=root, name=name, all_properties=all_properties, depth=depth + 1
        )
    if "allOf" in schema:
        return generate_value(
            _merge_all_of(schema, root),
            src,
            root=root,
            name=name,
            all_properties=all_properties,
            depth=depth + 1,
        )
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        options = schema["enum"]
        lowered = src.text.lower()
        for option in options:
            if isinstance(option, str) and option and option.lower() in lowered:
                return option
        return options[0]
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            non_null = [
                b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")
            ]
            branch = (non_null or branches)[0]
            base = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}
            if isinstance(branch, dict) and "$ref" not in branch:
                branch = {**base, **branch}
            return generate_value(
                branch, src, root=root, name=name, all_properties=all_properties, depth=depth + 1
            )

    stype = schema.get("type")
    if isinstance(stype, list):
        non_null_types = [t for t in stype if t != "null"]
        stype = non_null_types[0] if non_null_types else "null"
    if stype is None:
        if "properties" in schema or depth == 0:
            stype = "object"
        elif "items" in schema:
            stype = "array"
        else:
            stype = "string"

    if stype == "object":
        props: dict[str, Any] = schema.get("properties") or {}
        required = [k for k in schema.get("required", []) if isinstance(k, str)]
        keys = list(props) if all_properties or not required else required
        for k in required:
            if k not in keys:
                keys.append(k)
        out: dict[str, Any] = {}
        for key in keys:
            out[key] = generate_value(
                props.get(key, {}),
                src,
                root=root,
                name=key,
                all_properties=all_properties,
                depth=depth + 1,
            )
        if not out and depth == 0 and schema.get("additionalProperties", True) is not False:
            answer = src.string() or src.text.strip()[:80] or "ok"
            out["answer"] = answer
        return out
    if stype == "array":
        count = max(1, int(schema.get("minItems", 1)))
        if schema.get("maxItems") == 0:
            return []
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list) and prefix:
            return [generate_value(s, src, root=root, name=name, depth=depth + 1) for s in prefix]
        items = schema.get("items", {})
        if isinstance(items, list):
            return [generate_value(s, src, root=root, name=name, depth=depth + 1) for s in items]
        return [
            generate_value(
                items, src, root=root, name=name, all_properties=all_properties, depth=depth + 1
            )
            for _ in range(count)
        ]
    if stype == "string":
        return _gen_string(schema, src, name)
    if stype == "integer":
        return _gen_number(schema, src, integer=True)
    if stype == "number":
        return _gen_number(schema, src, integer=False)
    if stype == "boolean":
        words = set(re.findall(r"\w+", src.text.lower()))
        return bool(words & {"true", "yes"})
    return None


# ----------------------------------------------------------------------------------------
# replies


@dataclass
class Reply:
    """What the model produced, before it is shaped for a route."""

    text: str | None = None
    pieces: list[str] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] | None = None
    json_value: Any = None
    is_json: bool = False
    finish_reason: str = "stop"  # stop | length | tool_calls
    usage: dict[str, Any] = field(default_factory=dict)
    raw_result: dict[str, Any] | None = None
    raw_body: bytes | None = None
    raw_sse: bytes | None = None
    status: int = 200
    content_type: str | None = None
    fault: Fault | None = None


def normalise_tools(tools: Any) -> list[tuple[str, dict[str, Any]]]:
    """``[(name, parameters), ...]`` from flat or OpenAI-format tool definitions."""
    out: list[tuple[str, dict[str, Any]]] = []
    if not isinstance(tools, list):
        return out
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        fn = tool.get("function") if isinstance(tool.get("function"), dict) else tool
        assert isinstance(fn, dict)
        name = fn.get("name")
        if isinstance(name, str) and name:
            params = fn.get("parameters")
            out.append((name, params if isinstance(params, dict) else {}))
    return out


def _name_forms(name: str) -> set[str]:
    lowered = name.lower()
    forms = {lowered, lowered.replace("_", " "), lowered.replace("-", " ")}
    forms.add(_CAMEL_RE.sub(" ", name).lower().replace("_", " "))
    return {f for f in forms if f}


_Tools = list[tuple[str, dict[str, Any]]]


# Words too common in tool names to say which tool a prompt means ("get_weather" → "weather").
_GENERIC_NAME_WORDS = frozenset({"get", "set", "fetch", "find", "make", "call", "tool", "run"})


def _distinctive_words(name: str) -> set[str]:
    words = _CAMEL_RE.sub(" ", name).lower().replace("_", " ").replace("-", " ").split()
    return {w for w in words if len(w) >= 4 and w not in _GENERIC_NAME_WORDS}


def _first_positions(text: str, tools: _Tools, forms: Any) -> _Tools:
    hits: list[tuple[int, str, dict[str, Any]]] = []
    for name, params in tools:
        positions = [
            m.start()
            for f in forms(name)
            for m in re.finditer(r"(?<!\w)" + re.escape(f) + r"(?!\w)", text)
        ]
        if positions:
            hits.append((min(positions), name, params))
    hits.sort(key=lambda h: h[0])
    return [(name, params) for _, name, params in hits]


def _named_tools(text: str, tools: _Tools) -> _Tools:
    """Tools the text names in full; failing that, by a distinctive word of their name."""
    lowered = text.lower()
    return _first_positions(lowered, tools, _name_forms) or _first_positions(
        lowered, tools, _distinctive_words
    )


_QUOTED_KEY_RE = re.compile(r"""['"`]([A-Za-z_][A-Za-z0-9_]{0,40})['"`]""")


def _schema_for_open_json(schema: Any, prompt: str) -> Any:
    """JSON mode (``guided_json: {}``): an object with the keys the prompt quotes, if any."""
    if not isinstance(schema, dict) or schema.get("properties") or set(schema) - {"type"}:
        return schema
    keys = list(dict.fromkeys(_QUOTED_KEY_RE.findall(prompt)))
    if not keys:
        return schema
    return {
        "type": "object",
        "properties": {key: {"type": "string"} for key in keys},
        "required": keys,
    }


def _cut(pieces: list[str], max_tokens: int) -> tuple[list[str], bool]:
    if max_tokens > 0 and len(pieces) > max_tokens:
        return pieces[:max_tokens], True
    return pieces, False


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def conversation(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Messages of a request (the prompt form becomes one user message)."""
    messages = body.get("messages")
    if isinstance(messages, list):
        return [m for m in messages if isinstance(m, dict)]
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return []


def prompt_text(body: dict[str, Any]) -> str:
    """The text the prompt is counted from: every message's text, one per line."""
    return "\n".join(message_text(m.get("content")) for m in conversation(body))


def prompt_tokens(body: dict[str, Any]) -> int:
    return count_tokens(prompt_text(body))


def token_list(text: str) -> list[str]:
    """The tokens :func:`count_tokens` counts, in order."""
    return _TOKEN_RE.findall(text)


def _heuristic_text(messages: list[dict[str, Any]]) -> str:
    if messages and messages[-1].get("role") == "tool":
        results: list[str] = []
        for m in reversed(messages):
            if m.get("role") != "tool":
                break
            results.append(message_text(m.get("content")))
        return "Based on the tool results: " + "; ".join(reversed(results))
    last_user_index = None
    for i in range(len(messages) - 1, -1, -1):
        if messages[i].get("role") == "user":
            last_user_index = i
            break
    last = messages[last_user_index] if last_user_index is not None else {}
    text = "You said: " + message_text(last.get("content"))
    images = _image_count(last.get("content"))
    if images:
        text += f" [{images} image(s) received]"
    systems = [message_text(m.get("content")) for m in messages if m.get("role") == "system"]
    systems = [s for s in systems if s]
    if systems:
        text += " [system: " + " ".join(systems) + "]"
    earlier = [
        message_text(m.get("content"))
        for i, m in enumerate(messages)
        if m.get("role") in ("user", "assistant", "tool") and i != last_user_index
    ]
    earlier = [e for e in earlier if e]
    if earlier:
        text += " [context: " + " | ".join(earlier) + "]"
    return text


def generate_reply(
    body: dict[str, Any],
    *,
    script: ScriptedReply | None,
    guided: Any,
    max_tokens: int,
) -> Reply:
    """Produce the reply for a validated request body.

    ``guided`` is the JSON schema to satisfy (``None``: free text).
    """
    messages = conversation(body)
    n_prompt = prompt_tokens(body)

    if script is not None:
        return _scripted(script, n_prompt, max_tokens)

    tools = normalise_tools(body.get("tools"))
    last = messages[-1] if messages else {}
    last_text = message_text(last.get("content"))

    if guided is not None:
        user_text = " ".join(
            message_text(m.get("content")) for m in messages if m.get("role") == "user"
        )
        schema = _schema_for_open_json(guided if isinstance(guided, dict) else {}, user_text)
        value = generate_value(schema, user_text)
        text = json.dumps(value)
        pieces, cut = _cut(split_pieces(text), max_tokens)
        return Reply(
            text="".join(pieces),
            pieces=pieces,
            json_value=value,
            is_json=not cut,
            finish_reason="length" if cut else "stop",
            usage=_usage(n_prompt, len(pieces) if cut else count_tokens(text)),
        )

    if tools and last.get("role") == "user":
        named = _named_tools(last_text, tools)
        if named:
            exclude = tuple(f for name, _ in named for f in (name, *_name_forms(name)))
            src = _Source(last_text, exclude=exclude)
            calls = [
                {
                    "name": name,
                    "arguments": generate_value(
                        params or {"type": "object"}, src, all_properties=False
                    ),
                }
                for name, params in named
            ]
            for call in calls:
                if not isinstance(call["arguments"], dict):
                    call["arguments"] = {}
            return Reply(
                tool_calls=calls,
                finish_reason="tool_calls",
                usage=_usage(n_prompt, count_tokens(json.dumps(calls))),
            )

    text = _heuristic_text(messages)
    pieces, cut = _cut(split_pieces(text), max_tokens)
    completion = len(pieces) if cut else count_tokens(text)
    return Reply(
        text="".join(pieces),
        pieces=pieces,
        finish_reason="length" if cut else "stop",
        usage=_usage(n_prompt, completion),
    )


def _as_bytes(value: str | bytes | None) -> bytes | None:
    if value is None or isinstance(value, bytes):
        return value
    return value.encode("utf-8")


def _scripted(script: ScriptedReply, n_prompt: int, max_tokens: int) -> Reply:
    reply = Reply(fault=script.fault, status=script.status, content_type=script.content_type)
    if script.fault is not None:
        pass
    elif script.raw_sse is not None:
        reply.raw_sse = _as_bytes(script.raw_sse)
    elif script.raw_body is not None:
        reply.raw_body = _as_bytes(script.raw_body)
    elif script.raw_result is not None:
        reply.raw_result = script.raw_result
    elif script.tool_calls is not None:
        calls = [
            {"name": c.get("name"), "arguments": c.get("arguments", {})} for c in script.tool_calls
        ]
        reply.tool_calls = calls
        reply.finish_reason = "tool_calls"
        reply.usage = _usage(n_prompt, count_tokens(json.dumps(calls)))
    elif script.json is not None:
        text = json.dumps(script.json)
        reply.text, reply.pieces = text, split_pieces(text)
        reply.json_value, reply.is_json = script.json, True
        reply.usage = _usage(n_prompt, count_tokens(text))
    elif script.chunks is not None:
        reply.pieces = list(script.chunks)
        reply.text = "".join(script.chunks)
        reply.usage = _usage(n_prompt, count_tokens(reply.text))
    else:
        text = script.text or ""
        pieces, cut = _cut(split_pieces(text), max_tokens)
        reply.text, reply.pieces = "".join(pieces), pieces
        reply.finish_reason = "length" if cut else "stop"
        reply.usage = _usage(n_prompt, len(pieces) if cut else count_tokens(text))
    if script.usage is not None:
        reply.usage = dict(script.usage)
    return reply
