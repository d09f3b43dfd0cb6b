"""Reply bodies → :class:`ChatResult` (WIRE-FORMAT §3, §11).

Accepted: the REST envelope ``{"result": ..., "success": true}`` and the bare binding shape;
``response`` as a string, object, number, ``""``, ``null`` or absent; ``tool_calls`` flat or
OpenAI-shaped with arguments as an object or JSON text; the OpenAI ``choices`` shape; usage
with extra keys (``neurons`` is a float and no token count; kept in ``Usage.extra``). A tool
call the model wrote as text is salvaged when it names a declared tool. Anything else raises
:class:`~cf_mistral.ResponseParseError` naming what was found.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from cf_mistral._errors import ResponseParseError
from cf_mistral._forced import read_forced_call
from cf_mistral._pricing import ModelPrice
from cf_mistral._request import PreparedCall
from cf_mistral._status import error_from_payload
from cf_mistral._stop import truncate_at_stop
from cf_mistral._tool_calls import (
    assemble_tool_call,
    read_wire_tool_call,
    salvage_leaked_tool_calls,
)
from cf_mistral._types import ChatResult, FinishReason, InvalidToolCall, ToolCall, Usage

__all__ = ["finish_reason_for", "parse_reply", "parse_usage", "response_text"]

_FINISH_REASONS: dict[str, FinishReason] = {
    "stop": "stop",
    "eos": "stop",
    "end_turn": "stop",
    "length": "length",
    "max_tokens": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
}


def response_text(value: Any) -> str:
    """The text of a ``response`` / ``content`` value of any type the server sends."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(part, Mapping) for part in value):
        # OpenAI content parts.
        return "".join(str(part.get("text", "")) for part in value if part.get("type") == "text")
    return json.dumps(value, ensure_ascii=False)


_COUNTERS = frozenset({"prompt_tokens", "completion_tokens", "total_tokens"})


def _count(value: Any) -> int:
    """A token count, or 0 for anything that is not a finite, non-negative number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    # json.loads reads Infinity and NaN: a counter that is not a finite count is no count.
    if (isinstance(value, float) and not math.isfinite(value)) or value < 0:
        return 0
    return int(value)


def parse_usage(value: Any) -> Usage | None:
    """A ``usage`` object: the three counters, the cached part of the prompt, and the rest.

    ``prompt_tokens_details.cached_tokens`` (WIRE-FORMAT §3.6) becomes ``cached_tokens``,
    at most ``prompt_tokens`` (it is a part of them); a missing, null or non-numeric value
    counts as 0. Every other key is kept, as sent, in ``extra``.
    """
    if not isinstance(value, Mapping):
        return None
    prompt, completion = _count(value.get("prompt_tokens")), _count(value.get("completion_tokens"))
    total = _count(value.get("total_tokens")) or prompt + completion
    details = value.get("prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, Mapping) else 0
    extra = {key: item for key, item in value.items() if key not in _COUNTERS}
    return Usage(prompt, completion, total, min(cached, prompt), extra)


def finish_reason_for(
    *,
    has_tool_calls: bool,
    stopped: bool,
    reported: Any,
    usage: Usage | None,
    max_tokens: int,
) -> FinishReason:
    """``tool_calls``, else ``length`` when the reply used all of ``max_tokens``, else ``stop``.

    This model reports no finish reason, so truncation shows only as
    ``completion_tokens == max_tokens`` (WIRE-FORMAT §3.5).
    """
    if has_tool_calls:
        return "tool_calls"
    if stopped:
        return "stop"
    mapped = _FINISH_REASONS.get(str(reported)) if reported else None
    if mapped == "length" or (usage is not None and usage.completion_tokens >= max_tokens):
        return "length"
    return "stop"


def parse_reply(
    body: Any,
    call: PreparedCall,
    *,
    model: str,
    request_id: str | None,
    price: ModelPrice | None = None,
) -> ChatResult:
    """Read a 200 reply body (already JSON-decoded) into a :class:`ChatResult`."""
    if not isinstance(body, Mapping):
        raise ResponseParseError(
            f"Expected a JSON object from Workers AI, got {type(body).__name__}: "
            f"{json.dumps(body)[:200]}",
            request_id=request_id,
        )
    if body.get("success") is False or (
        "result" not in body and ("errors" in body or "error" in body)
    ):
        raise error_from_payload(body, status=200, request_id=request_id)
    result = body.get("result", body)
    if not isinstance(result, Mapping):
        raise ResponseParseError(
            f"The reply's 'result' is {json.dumps(result)[:200]}, not an object with 'response'.",
            request_id=request_id,
        )
    reported_finish: Any = result.get("finish_reason")
    if "choices" in result:
        choices = result.get("choices") or []
        choice = choices[0] if isinstance(choices, list) and choices else {}
        message = (choice.get("message") or {}) if isinstance(choice, Mapping) else None
        if not isinstance(choices, list) or not isinstance(message, Mapping):
            raise ResponseParseError(
                f"The reply's 'choices' is {json.dumps(choices)[:200]}, not a list of objects "
                "with a 'message' object.",
                request_id=request_id,
            )
        text_value: Any = message.get("content")
        wire_calls: Any = message.get("tool_calls") or []
        reported_finish = choice.get("finish_reason") or reported_finish
    elif (
        "response" in result or "tool_calls" in result or set(result) <= {"usage", "finish_reason"}
    ):
        # A usage-only result is an empty reply; usage next to keys we do not know (an async
        # batch result's "responses") is not, and reading it as "" would drop it silently.
        text_value = result.get("response")
        wire_calls = result.get("tool_calls") or []
    else:
        raise ResponseParseError(
            "The reply has neither 'response', 'tool_calls' nor 'choices': "
            f"{json.dumps(result)[:200]}",
            request_id=request_id,
        )
    usage = parse_usage(result.get("usage"))
    text = response_text(text_value)
    if not isinstance(wire_calls, list):
        wire_calls = [wire_calls]

    taken: set[str] = set()
    calls: list[ToolCall | InvalidToolCall] = []
    for item in wire_calls:
        call_id, name, arguments = read_wire_tool_call(item)
        calls.append(
            assemble_tool_call(call_id, name, arguments, declared=call.tool_names, taken_ids=taken)
        )
    if call.forced is not None and not calls:
        forced_value: Any = text_value if not isinstance(text_value, str) else text
        name, arguments_text = read_forced_call(call.forced, forced_value)
        calls.append(
            assemble_tool_call(
                None, name, arguments_text, declared=call.tool_names, taken_ids=taken
            )
        )
        text = ""
    elif call.tool_names and not calls and not call.json_reply:
        leaked = salvage_leaked_tool_calls(text, call.tool_names)
        if leaked:
            calls.extend(
                assemble_tool_call(None, name, arguments, declared=call.tool_names, taken_ids=taken)
                for name, arguments in leaked
            )
            text = ""
    text, stopped = truncate_at_stop(text, call.stop)
    valid = tuple(c for c in calls if isinstance(c, ToolCall))
    invalid = tuple(c for c in calls if isinstance(c, InvalidToolCall))
    return ChatResult(
        text=text,
        tool_calls=valid,
        invalid_tool_calls=invalid,
        usage=usage,
        finish_reason=finish_reason_for(
            has_tool_calls=bool(calls),
            stopped=stopped,
            reported=reported_finish,
            usage=usage,
            max_tokens=call.max_tokens,
        ),
        model=model,
        request_id=request_id,
        raw=body,
        price=price,
    )
