"""One model call as the adapter plans it, and the stream logic shared by sync and async.

A call is one :class:`cf_mistral.ChatRequest`, except when tools *and* a ``response_format``
are bound (``create_agent`` with a provider-strategy ``response_format``): constrained
decoding (``guided_json``) leaves the model no way to call a tool, so the call runs in two
phases. Phase one offers the tools; if the model calls one, that is the reply (the agent runs
the tool and asks again). If it answers instead, phase two asks again with the schema and no
tools, and its JSON is the reply. Token usage of both phases is reported, once.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import cf_mistral as cf

__all__ = ["CallPlan", "PhaseOneBuffer", "add_usage", "limit_tool_calls", "with_usage"]


@dataclass(frozen=True, slots=True)
class CallPlan:
    """``request`` to send first; ``then`` the phase-two request, when there is one."""

    request: cf.ChatRequest
    model: str | None = None
    then: cf.ChatRequest | None = None
    single_tool_call: bool = False


def add_usage(first: cf.Usage | None, second: cf.Usage | None) -> cf.Usage | None:
    if first is None or second is None:
        return second or first
    return first + second


def with_usage(event: cf.StreamEvent, earlier: cf.Usage | None) -> cf.StreamEvent:
    """A phase-two event with phase one's usage added (only usage and end events change)."""
    if earlier is None:
        return event
    if isinstance(event, cf.UsageEvent):
        return cf.UsageEvent(add_usage(earlier, event.usage) or event.usage)
    if isinstance(event, cf.StreamEnd):
        result = event.result
        return cf.StreamEnd(dataclasses.replace(result, usage=add_usage(earlier, result.usage)))
    return event


def limit_tool_calls(result: cf.ChatResult) -> cf.ChatResult:
    """``parallel_tool_calls=False``: keep the first call; the rest are dropped with a warning."""
    if len(result.tool_calls) <= 1:
        return result
    _warn_dropped([call.name for call in result.tool_calls[1:]])
    return dataclasses.replace(result, tool_calls=result.tool_calls[:1])


def _warn_dropped(names: Iterable[str | None]) -> None:
    warnings.warn(
        f"parallel_tool_calls=False: the model made more than one tool call; kept the first "
        f"and dropped {list(names)}.",
        stacklevel=4,
    )


class SingleCallFilter:
    """The stream twin of :func:`limit_tool_calls`."""

    def __init__(self) -> None:
        self.dropped: list[str | None] = []

    def keep(self, event: cf.StreamEvent) -> bool:
        if isinstance(event, cf.ToolCallDelta) and event.index > 0:
            if event.id is not None:
                self.dropped.append(event.name)
            return False
        if isinstance(event, cf.StreamEnd) and self.dropped:
            _warn_dropped(self.dropped)
        return True


class PhaseOneBuffer:
    """Holds phase one's events until it is clear whether the model called a tool.

    Tool-call deltas release everything at once (the reply is the tool call). When phase one
    ends without a tool call, its events are discarded and ``usage`` is carried into phase two.
    """

    def __init__(self) -> None:
        self._held: list[cf.StreamEvent] = []
        self.called_tool = False
        self.usage: cf.Usage | None = None

    def feed(self, event: cf.StreamEvent) -> list[cf.StreamEvent]:
        if self.called_tool:
            return [event]
        if isinstance(event, cf.ToolCallDelta):
            self.called_tool = True
            released, self._held = [*self._held, event], []
            return released
        if isinstance(event, cf.UsageEvent):
            self.usage = event.usage
        self._held.append(event)
        return []
