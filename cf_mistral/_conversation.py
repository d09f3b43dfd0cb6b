"""Conversation checks: never send what Mistral's template is known to reject.

Mistral's chat template requires every assistant tool call to be answered by a tool message
(matched by id) and every tool message to answer one; it rejects an assistant turn with both
text and tool calls, an empty assistant turn, ``null`` content and a ``user`` turn right after
a ``tool`` turn (WIRE-FORMAT §5.3, §5.4). Harmless cases are repaired, the rest refused with
the index of the offending message, before any request is sent.

Repairs, each keeping every piece of content:
- assistant text + tool calls → an assistant text turn, then the tool-call turn;
- an assistant turn with no text and no tool calls → dropped (it carries nothing);
- ``user`` right after ``tool`` → an assistant turn that acknowledges the results in between.
"""

from __future__ import annotations

from collections.abc import Sequence

from cf_mistral._errors import InvalidRequestError
from cf_mistral._tool_ids import to_mistral_tool_call_id
from cf_mistral._types import (
    AssistantMessage,
    Message,
    SystemMessage,
    ToolMessage,
    UserMessage,
)

__all__ = ["TOOL_RESULTS_ACK", "check_conversation"]

# What the inserted assistant turn says between tool results and the next user turn.
TOOL_RESULTS_ACK = "I have the tool results."


def check_conversation(messages: Sequence[Message]) -> list[Message]:
    """Validate and repair ``messages``; return the list to send. Raises naming the index."""
    if not messages:
        raise InvalidRequestError(
            "messages is empty: pass at least one message (for example a user message)."
        )
    repaired: list[Message] = []
    pending: dict[str, int] = {}  # wire id -> index of the assistant turn that made the call
    for index, message in enumerate(messages):
        if isinstance(message, ToolMessage):
            wire_id = to_mistral_tool_call_id(message.tool_call_id)
            if wire_id not in pending:
                raise InvalidRequestError(
                    f"messages[{index}] is a tool result for tool_call_id "
                    f"{message.tool_call_id!r}, but no earlier assistant message has a tool "
                    "call with that id (or it was answered already). Keep the assistant "
                    "message that made the call, with the same id, before its result."
                )
            del pending[wire_id]
            repaired.append(message)
            continue
        if pending:
            _refuse_unanswered(messages, pending, index)
        if isinstance(message, AssistantMessage):
            if message.tool_calls:
                if message.content:
                    repaired.append(AssistantMessage(content=message.content))
                    repaired.append(AssistantMessage(tool_calls=message.tool_calls))
                else:
                    repaired.append(message)
                for call in message.tool_calls:
                    pending[to_mistral_tool_call_id(call.id)] = index
                continue
            if not message.content:
                continue
        elif (
            isinstance(message, UserMessage) and repaired and isinstance(repaired[-1], ToolMessage)
        ):
            repaired.append(AssistantMessage(content=TOOL_RESULTS_ACK))
        elif not isinstance(message, (SystemMessage, UserMessage, AssistantMessage)):
            raise InvalidRequestError(
                f"messages[{index}] is a {type(message).__name__}, not a cf_mistral message "
                "(SystemMessage, UserMessage, AssistantMessage or ToolMessage)."
            )
        repaired.append(message)
    if pending:
        _refuse_unanswered(messages, pending, len(messages))
    if not repaired:
        raise InvalidRequestError(
            "messages holds only empty assistant turns: add a user message with content."
        )
    return repaired


def _refuse_unanswered(messages: Sequence[Message], pending: dict[str, int], at: int) -> None:
    index = min(pending.values())
    call_ids = [
        call.id
        for call in messages[index].tool_calls  # type: ignore[union-attr]
        if to_mistral_tool_call_id(call.id) in pending
    ]
    where = f"before messages[{at}]" if at < len(messages) else "at the end of the conversation"
    raise InvalidRequestError(
        f"messages[{index}] has tool call(s) {call_ids} with no tool result {where}. "
        "Mistral needs a tool message answering every tool call, right after the assistant "
        "message that made it: add a ToolMessage with the matching tool_call_id (its content "
        "may be an error text) or remove the unanswered call."
    )
