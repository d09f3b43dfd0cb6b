"""Stream payloads → neutral events, one pure accumulator for sync and async alike.

Fed the ``data`` payloads of :class:`~cf_mistral._sse.SSEDecoder`, a :class:`StreamAccumulator`
returns :class:`TextDelta` / :class:`ToolCallDelta` events as they become safe to emit and, at
the end, one :class:`UsageEvent` and one :class:`StreamEnd` with the assembled result.

Shapes handled (WIRE-FORMAT §4): native ``{"response": ..., "p": ...}`` events with optional
``"tool_calls": []`` noise; tool calls complete in one event (flat), or as OpenAI-like indexed
deltas whose arguments may precede the name, with a null "finalisation" sentinel; OpenAI
``choices[0].delta`` chunks; a top-level ``finish_reason``. Usage: a terminal event without
``choices`` carries the cumulative total and wins; otherwise per-chunk usage is summed. Never
both. An ``errors`` event raises; a stream that ends before ``[DONE]`` raises
:class:`StreamInterruptedError` with the text received so far.

When tools are bound, text that could be a tool call written as text (``[TOOL_CALLS]``,
``{``, ``[``) is held back until it is clearly not one, then salvaged or released. When a tool
call is forced, the constrained JSON text becomes the call's argument deltas.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cf_mistral._errors import StreamInterruptedError, WorkersAIError
from cf_mistral._forced import read_forced_call
from cf_mistral._pricing import ModelPrice
from cf_mistral._request import PreparedCall
from cf_mistral._response import finish_reason_for, parse_usage, response_text
from cf_mistral._sse import DONE
from cf_mistral._status import error_from_payload
from cf_mistral._stop import StopFilter
from cf_mistral._tool_calls import (
    assemble_tool_call,
    read_wire_tool_call,
    salvage_leaked_tool_calls,
)
from cf_mistral._tool_ids import mint_tool_call_id, to_mistral_tool_call_id
from cf_mistral._types import (
    ChatResult,
    InvalidToolCall,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
    UsageEvent,
)

__all__ = ["StreamAccumulator"]

_LEAK_PREFIX = "[TOOL_CALLS]"
# The keys of a plain text event (native route): ``p`` is padding, ``tool_calls`` empty noise.
_PLAIN_KEYS = frozenset({"response", "p", "tool_calls"})
# json.loads is json.JSONDecoder.raw_decode plus two whitespace regex matches and an end check,
# on every event of every stream. A payload raw_decode reads whole is taken as is; anything else
# (whitespace around it, a BOM, junk) goes through json.loads, which accepts or rejects it.
_raw_decode = json.JSONDecoder().raw_decode


def _loads(payload: str) -> Any:
    try:
        value, end = _raw_decode(payload)
    except ValueError:
        return json.loads(payload)
    return value if end == len(payload) else json.loads(payload)


class _PartialCall:
    __slots__ = ("arguments", "id", "name")

    def __init__(self, call_id: str) -> None:
        self.id = call_id
        self.name: str | None = None
        self.arguments: list[str] = []


class StreamAccumulator:
    """Turns one stream's payloads into events; see the module docstring for the rules."""

    def __init__(
        self,
        call: PreparedCall,
        *,
        model: str,
        snapshots: bool = False,
        price: ModelPrice | None = None,
    ) -> None:
        self._call = call
        self._price = price
        self._snapshots = snapshots
        self._model = model
        self._stop = StopFilter(call.stop)
        # Text reaches the caller as it arrives: no forced call to assemble, no stop to look for.
        self._direct = call.forced is None and not call.stop
        self._text = ""  # the emitted text; grown in place by _delta, see there
        self._raw_text: list[str] = []  # only while holding back a possible tool call
        self._holding = bool(call.tool_names) and call.forced is None and not call.json_reply
        self._forced_text: list[str] = []
        self._calls: dict[Any, _PartialCall] = {}
        self._order: list[Any] = []
        self._taken_ids: set[str] = set()
        self._terminal_usage: Usage | None = None
        self._summed_usage: Usage | None = None
        self._reported_finish: Any = None
        self._last_event: Mapping[str, Any] | None = None
        self.done = False
        self.emitted = False

    @property
    def stopped(self) -> bool:
        """A stop sequence ended the reply; later text is dropped, usage still read."""
        return self._stop.stopped

    @property
    def text(self) -> str:
        """The text emitted so far."""
        return self._text

    def feed(self, payload: str) -> list[StreamEvent]:
        """Events for one SSE ``data`` payload."""
        if self.done:
            return []
        if payload == DONE:
            self.done = True
            return []
        try:
            event = _loads(payload)
        except ValueError:
            raise self._interrupted(
                f"Workers AI sent a malformed stream event: {payload[:120]!r}"
            ) from None
        if not isinstance(event, dict):  # json.loads makes a dict of every JSON object
            raise self._interrupted(
                f"Workers AI sent a stream event that is not an object: {payload[:120]!r}"
            )
        self._last_event = event
        # Nearly every event of a reply: text only. Same result as the general path below.
        text = event.get("response")
        if (
            type(text) is str
            and text
            and self._direct
            and not self._holding
            and event.keys() <= _PLAIN_KEYS
            and not event.get("tool_calls")
        ):
            self.emitted = True
            return [self._delta(text)]
        errors = event.get("errors")
        if errors or event.get("success") is False:
            error = error_from_payload(event, status=None, request_id=None)
            if self.emitted:
                raise self._interrupted(
                    f"The stream carried an error after it began: {error.message}", code=error.code
                )
            raise error
        out: list[StreamEvent] = []
        if "choices" in event:
            self._read_choices(event, out)
        else:
            # Checked before calling out: this runs once per event, thousands of times a reply.
            if "response" in event:
                self._on_text(response_text(event["response"]), out)
            tool_calls = event.get("tool_calls")
            if tool_calls:
                self._read_tool_calls(tool_calls, out)
            if event.get("finish_reason"):
                self._reported_finish = event["finish_reason"]
            if event.get("usage") is not None:
                usage = parse_usage(event["usage"])
                if usage is not None:
                    self._terminal_usage = usage
        if out:
            self.emitted = True
        return out

    def finish(self, *, request_id: str | None = None) -> list[StreamEvent]:
        """The closing events; raises if the stream ended without ``[DONE]``."""
        if not self.done and not self.stopped:
            raise self._interrupted(
                "The stream ended before [DONE]: the reply is incomplete.", request_id=request_id
            )
        out: list[StreamEvent] = []
        if self._forced_text and self._call.forced is not None and self._call.forced.single is None:
            name, arguments = read_forced_call(self._call.forced, "".join(self._forced_text))
            self._emit_call(("forced",), None, name, arguments, out)
        if self._holding:
            self._release_held(out, at_end=True)
        tail = self._stop.flush()
        if tail:
            # Not through _emit_text: pushing the tail back into the filter would hold it again.
            out.append(self._delta(tail))
        usage = self._terminal_usage or self._summed_usage
        if usage is not None:
            out.append(UsageEvent(usage))
        out.append(StreamEnd(self._result(usage, request_id)))
        return out

    # -- text ---------------------------------------------------------------------------------

    def _on_text(self, text: str, out: list[StreamEvent]) -> None:
        if not text:
            return
        forced = self._call.forced
        if forced is not None:
            self._forced_text.append(text)
            if forced.single is not None:
                self._emit_call(("forced",), None, forced.single, text, out)
            return
        if self._holding:
            self._raw_text.append(text)
            self._release_held(out, at_end=False)
            return
        self._emit_text(text, out)

    def _release_held(self, out: list[StreamEvent], *, at_end: bool) -> None:
        held = "".join(self._raw_text)
        stripped = held.lstrip()
        could_be_call = (
            not stripped
            or stripped.startswith(("{", "[", _LEAK_PREFIX))
            or _LEAK_PREFIX.startswith(stripped)
        )
        if could_be_call and not at_end:
            return
        self._holding = False
        self._raw_text = []
        if at_end and stripped:
            leaked = salvage_leaked_tool_calls(held, self._call.tool_names)
            if leaked:
                for position, (name, arguments) in enumerate(leaked):
                    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
                    self._emit_call(("leaked", position), None, name, text, out)
                return
        if held:
            self._emit_text(held, out)

    def _emit_text(self, text: str, out: list[StreamEvent]) -> None:
        safe = self._stop.push(text)
        if safe:
            out.append(self._delta(safe))

    def _delta(self, text: str) -> TextDelta:
        """The event for emitted ``text``, which joins the text so far.

        The text so far is one string, appended to through a local: CPython then grows it in
        place when nothing else holds it (linear time, one copy of the reply), where ``+=`` on
        the attribute would copy it for every event. A consumer that asked for snapshots holds
        the previous one, so each append copies; it gets the string it would have built itself,
        and this accumulator keeps no second copy of the reply beside it. A str takes 1, 2 or 4
        bytes per character, set by its widest one: one emoji makes an English reply 4x its
        UTF-8 size, a cost bounded by ``max_tokens`` and worth the shared string.
        """
        so_far = self._text
        self._text = ""
        so_far += text
        self._text = so_far
        return TextDelta(text, so_far) if self._snapshots else TextDelta(text)

    # -- tool calls ---------------------------------------------------------------------------

    def _read_tool_calls(self, items: Any, out: list[StreamEvent]) -> None:
        if not items:
            return
        if not isinstance(items, list):
            items = [items]
        for position, item in enumerate(items):
            if not isinstance(item, Mapping):
                continue
            function = item.get("function")
            if "index" in item or (isinstance(function, Mapping) and "name" not in item):
                # OpenAI-like delta: pieces of call `index`, in any order.
                call_id, name, arguments = read_wire_tool_call(item)
                index = item.get("index", position)
                if not isinstance(index, int) or isinstance(index, bool):
                    raise self._interrupted(
                        f"Workers AI sent a tool call delta whose 'index' is not an integer: "
                        f"{json.dumps(item)[:120]!r}"
                    )
                key = ("delta", index)
                if isinstance(arguments, Mapping):
                    arguments = json.dumps(arguments, ensure_ascii=False)
                self._emit_call(key, call_id, name, arguments or "", out)
            else:
                # A complete call in one event.
                call_id, name, arguments = read_wire_tool_call(item)
                if not isinstance(arguments, str):
                    arguments = json.dumps(
                        arguments if arguments is not None else {}, ensure_ascii=False
                    )
                self._emit_call(("flat", len(self._order)), call_id, name, arguments, out)

    def _emit_call(
        self,
        key: Any,
        call_id: str | None,
        name: str | None,
        arguments: str,
        out: list[StreamEvent],
    ) -> None:
        partial = self._calls.get(key)
        first = partial is None
        if partial is None:
            if not name and not arguments:
                return  # the null "finalisation" sentinel of a call never begun
            wire_id = (
                to_mistral_tool_call_id(call_id) if call_id else mint_tool_call_id(self._taken_ids)
            )
            self._taken_ids.add(wire_id)
            partial = _PartialCall(wire_id)
            self._calls[key] = partial
            self._order.append(key)
        new_name = name if name and partial.name is None else None
        if new_name:
            partial.name = new_name
        if arguments:
            partial.arguments.append(arguments)
        if first or new_name or arguments:
            out.append(
                ToolCallDelta(
                    index=self._order.index(key),
                    id=partial.id if first else None,
                    name=new_name,
                    arguments=arguments,
                )
            )

    def _read_choices(self, event: Mapping[str, Any], out: list[StreamEvent]) -> None:
        choices = event.get("choices") or []
        if not isinstance(choices, list):
            raise self._interrupted(
                f"Workers AI sent a stream event whose 'choices' is not a list: "
                f"{json.dumps(event)[:120]!r}"
            )
        usage = parse_usage(event.get("usage"))
        if usage is not None:
            self._summed_usage = usage if self._summed_usage is None else self._summed_usage + usage
        if not choices or not isinstance(choices[0], Mapping):
            return
        choice = choices[0]
        delta = choice.get("delta") or choice.get("message") or {}
        if isinstance(delta, Mapping):
            self._on_text(response_text(delta.get("content")), out)
            self._read_tool_calls(delta.get("tool_calls"), out)
        if choice.get("finish_reason"):
            self._reported_finish = choice["finish_reason"]

    # -- end ------------------------------------------------------------------------------------

    def _result(self, usage: Usage | None, request_id: str | None) -> ChatResult:
        calls: list[ToolCall | InvalidToolCall] = []
        for key in self._order:
            partial = self._calls[key]
            calls.append(
                assemble_tool_call(
                    partial.id,
                    partial.name,
                    "".join(partial.arguments),
                    declared=self._call.tool_names,
                    taken_ids=set(),
                )
            )
        return ChatResult(
            text=self.text,
            tool_calls=tuple(c for c in calls if isinstance(c, ToolCall)),
            invalid_tool_calls=tuple(c for c in calls if isinstance(c, InvalidToolCall)),
            usage=usage,
            finish_reason=finish_reason_for(
                has_tool_calls=bool(calls),
                stopped=self.stopped,
                reported=self._reported_finish,
                usage=usage,
                max_tokens=self._call.max_tokens,
            ),
            model=self._model,
            request_id=request_id,
            raw=self._last_event,
            price=self._price,
        )

    def _interrupted(self, message: str, **kwargs: Any) -> WorkersAIError:
        held = "".join(self._raw_text) + "".join(self._forced_text)
        return StreamInterruptedError(message, text=self.text + held, **kwargs)
