"""Conversation checks: repaired or refused (naming the index) before anything is sent."""

from __future__ import annotations

import pytest

from cf_mistral import (
    AssistantMessage,
    ChatRequest,
    InvalidRequestError,
    Message,
    SystemMessage,
    ToolCall,
    ToolDefinition,
    ToolMessage,
    UserMessage,
)
from cf_mistral._conversation import TOOL_RESULTS_ACK, check_conversation
from cf_mistral.emulator import Emulator

from .helpers import WEATHER_PARAMETERS, Driver

WEATHER = ToolDefinition("get_weather", "Weather", WEATHER_PARAMETERS)
CALL = ToolCall("call_1", "get_weather", {"city": "Paris"})


async def wire_messages(emulator: Emulator, driver: Driver, messages: list[Message]) -> list[dict]:
    await driver.chat(ChatRequest(messages=messages, tools=[WEATHER]))
    recorded = emulator.last_request
    assert recorded is not None
    assert recorded.status == 200  # the emulator's role-order checks accepted it
    return list(recorded.body["messages"])


async def test_user_after_tool_gets_an_assistant_turn_in_between(
    emulator: Emulator, driver: Driver
) -> None:
    messages: list[Message] = [
        UserMessage("weather?"),
        AssistantMessage(tool_calls=[CALL]),
        ToolMessage("call_1", "sunny"),
        UserMessage("and tomorrow?"),
    ]
    wire = await wire_messages(emulator, driver, messages)
    assert [m["role"] for m in wire] == ["user", "assistant", "tool", "assistant", "user"]
    assert wire[3] == {"role": "assistant", "content": TOOL_RESULTS_ACK}


async def test_assistant_text_with_tool_calls_is_split_in_two_turns(
    emulator: Emulator, driver: Driver
) -> None:
    messages: list[Message] = [
        UserMessage("weather?"),
        AssistantMessage(content="Let me check.", tool_calls=[CALL]),
        ToolMessage("call_1", "sunny"),
    ]
    wire = await wire_messages(emulator, driver, messages)
    assert wire[1] == {"role": "assistant", "content": "Let me check."}
    assert wire[2]["content"] == ""
    assert wire[2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert wire[3]["role"] == "tool"


async def test_empty_assistant_turn_is_dropped(emulator: Emulator, driver: Driver) -> None:
    messages: list[Message] = [
        UserMessage("one"),
        AssistantMessage(),
        AssistantMessage(content="answer"),
        UserMessage("two"),
    ]
    wire = await wire_messages(emulator, driver, messages)
    assert wire == [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "two"},
    ]


async def test_parallel_calls_answered_in_any_order_are_accepted(
    emulator: Emulator, driver: Driver
) -> None:
    calls = [ToolCall("a" * 20, "get_weather", {"city": "A"}), ToolCall("b", "get_weather", {})]
    messages: list[Message] = [
        UserMessage("two cities"),
        AssistantMessage(tool_calls=calls),
        ToolMessage("b", "B is warm"),
        ToolMessage("a" * 20, "A is cold"),
    ]
    wire = await wire_messages(emulator, driver, messages)
    ids = [c["id"] for c in wire[1]["tool_calls"]]
    assert [wire[2]["tool_call_id"], wire[3]["tool_call_id"]] == [ids[1], ids[0]]


@pytest.mark.parametrize(
    ("messages", "fragments"),
    [
        ([], ["messages is empty"]),
        ([AssistantMessage(), AssistantMessage()], ["only empty assistant turns"]),
        (
            [UserMessage("hi"), AssistantMessage(tool_calls=[CALL])],
            ["messages[1]", "'call_1'", "at the end of the conversation", "ToolMessage"],
        ),
        (
            [UserMessage("hi"), AssistantMessage(tool_calls=[CALL]), UserMessage("again")],
            ["messages[1]", "'call_1'", "before messages[2]"],
        ),
        (
            [
                UserMessage("hi"),
                AssistantMessage(tool_calls=[CALL, ToolCall("call_2", "get_weather", {})]),
                ToolMessage("call_1", "ok"),
                UserMessage("next"),
            ],
            ["messages[1]", "'call_2'", "before messages[3]"],
        ),
        (
            [UserMessage("hi"), ToolMessage("call_9", "orphan")],
            ["messages[1]", "'call_9'", "no earlier assistant message"],
        ),
        (
            [
                UserMessage("hi"),
                AssistantMessage(tool_calls=[CALL]),
                ToolMessage("call_1", "ok"),
                ToolMessage("call_1", "twice"),
            ],
            ["messages[3]", "answered already"],
        ),
        (
            [UserMessage("hi"), "not a message"],
            ["messages[1]", "str", "not a cf_mistral message"],
        ),
    ],
)
async def test_invalid_conversations_are_refused_naming_the_index(
    emulator: Emulator, driver: Driver, messages: list[Message], fragments: list[str]
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        await driver.chat(ChatRequest(messages=messages, tools=[WEATHER]))
    for fragment in fragments:
        assert fragment in str(info.value)
    assert emulator.requests == []


def test_valid_conversation_is_returned_unchanged() -> None:
    messages: list[Message] = [
        SystemMessage("sys"),
        UserMessage("q"),
        AssistantMessage(tool_calls=[CALL]),
        ToolMessage("call_1", "r"),
        AssistantMessage("done"),
    ]
    assert check_conversation(messages) == messages
