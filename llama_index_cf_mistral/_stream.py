"""Core stream events → LlamaIndex chunks, in one object both the sync and async shells drive.

Every chunk carries the cumulative assistant message (one text block, plus the tool calls so
far) and ``delta`` only the new text: the MistralAI integration appended a text block per
chunk, so its ``.content`` repeated itself. The cumulative text is the core stream's own
snapshot, so the reply is held once (plus the previous chunk's, which LlamaIndex keeps). The
last chunk carries the usage, because LlamaIndex's end event and ``TokenCountingHandler`` look
only at the last chunk.
"""

from __future__ import annotations

import json
from typing import Any

from llama_index.core.base.llms.types import (
    ChatResponse,
    CompletionResponse,
)

from cf_mistral import ChatResult, StreamEnd, StreamEvent, TextDelta, ToolCallDelta
from llama_index_cf_mistral._messages import assistant_message, usage_dict

__all__ = ["ChatStream", "chat_response", "completion_response"]


def _response_extras(result: ChatResult) -> tuple[dict[str, Any], dict[str, Any]]:
    """``raw`` (the reply body, with ``usage`` at the top) and ``additional_kwargs``.

    ``usage`` is everything Workers AI reported (the cached part of the prompt as
    ``prompt_tokens_details.cached_tokens``, ``neurons``); ``cost_usd`` is priced at the LLM's
    ``pricing``.
    """
    usage = usage_dict(result.usage)
    raw: dict[str, Any] = dict(result.raw or {})
    # TokenCountingHandler reads raw["usage"]; the native envelope nests it under "result".
    raw["usage"] = usage or None
    raw["finish_reason"] = result.finish_reason
    raw["model"] = result.model
    raw["request_id"] = result.request_id
    raw["cost_usd"] = result.cost_usd
    return raw, dict(usage)


def chat_response(result: ChatResult, delta: str | None = None) -> ChatResponse:
    """The complete reply (or a stream's last chunk) as a ``ChatResponse``."""
    raw, additional = _response_extras(result)
    calls = [
        (call.id, call.name, json.dumps(dict(call.arguments), ensure_ascii=False))
        for call in result.tool_calls
    ]
    message = assistant_message(result.text, calls, result.invalid_tool_calls)
    return ChatResponse(message=message, raw=raw, delta=delta, additional_kwargs=additional)


def completion_response(response: ChatResponse) -> CompletionResponse:
    return CompletionResponse(
        text=response.message.content or "",
        delta=response.delta,
        raw=response.raw,
        additional_kwargs=response.additional_kwargs,
    )


class ChatStream:
    """Feed it core events; it returns the ``ChatResponse`` to yield for each, or ``None``."""

    __slots__ = ("_calls", "_text")

    def __init__(self) -> None:
        self._text = ""
        self._calls: list[list[str]] = []  # [id, name, arguments so far] by stream index

    def feed(self, event: StreamEvent) -> ChatResponse | None:
        if isinstance(event, TextDelta):
            # The core's running text (streams opened with snapshots=True): LlamaIndex wants
            # it in every chunk, and taking the core's string keeps one copy of the reply.
            snapshot = event.snapshot
            self._text = self._text + event.text if snapshot is None else snapshot
            return self._chunk(event.text)
        if isinstance(event, ToolCallDelta):
            while len(self._calls) <= event.index:
                self._calls.append(["", "", ""])
            call = self._calls[event.index]
            if event.id:
                call[0] = event.id
            if event.name:
                call[1] = event.name
            call[2] += event.arguments
            return self._chunk("")
        if isinstance(event, StreamEnd):
            return chat_response(event.result, delta="")
        return None  # UsageEvent: its counts arrive with StreamEnd's result

    def _chunk(self, delta: str) -> ChatResponse:
        calls = [(call[0], call[1], call[2]) for call in self._calls]
        return ChatResponse(message=assistant_message(self._text, calls), delta=delta)
