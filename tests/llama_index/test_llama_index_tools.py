"""Tool calling: definitions on the wire, forced calls, ids, results, streams, validation."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    MessageRole,
    TextBlock,
    ToolCallBlock,
)
from llama_index.core.tools import FunctionTool

from cf_mistral import InvalidRequestError, to_mistral_tool_call_id
from cf_mistral.emulator import Emulator
from llama_index_cf_mistral import CloudflareMistral

NINE = re.compile(r"[A-Za-z0-9]{9}")


def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"Sunny in {city}"


def get_time(city: str) -> str:
    """Local time in a city."""
    return f"12:00 in {city}"


WEATHER = FunctionTool.from_defaults(get_weather)
TIME = FunctionTool.from_defaults(get_time)


def test_prepare_chat_with_tools_resolves_tool_choice(llm: CloudflareMistral):
    history = [ChatMessage(role="system", content="Be brief.")]

    auto = llm._prepare_chat_with_tools([WEATHER], user_msg="hi", chat_history=history)
    required = llm._prepare_chat_with_tools([WEATHER], user_msg="hi", tool_required=True)
    # FunctionCallingProgram passes tool_choice=None explicitly: it must not erase the force.
    program = llm._prepare_chat_with_tools([WEATHER], tool_required=True, tool_choice=None)
    named = llm._prepare_chat_with_tools(
        [WEATHER, TIME], tool_choice={"type": "function", "function": {"name": "get_time"}}
    )

    assert [m.content for m in auto["messages"]] == ["Be brief.", "hi"]
    assert history == [ChatMessage(role="system", content="Be brief.")]  # not mutated
    assert auto["tool_choice"] == "auto"
    assert auto["tools"][0].name == "get_weather"
    assert auto["tools"][0].parameters["required"] == ["city"]
    assert required["tool_choice"] == "required"
    assert program["tool_choice"] == "required"
    assert named["tool_choice"] == "get_time"


async def test_chat_with_tools_sends_openai_tools_and_returns_both_forms(
    calls: Any, emulator: Emulator
):
    response = await calls.chat_with_tools([WEATHER], user_msg="Use get_weather for Paris")

    body = emulator.last_request.body
    assert body["tools"][0]["type"] == "function"
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assert body["tools"][0]["function"]["description"].endswith("Current weather in a city.")
    assert body["tools"][0]["function"]["parameters"]["properties"]["city"]["type"] == "string"
    assert "tool_choice" not in body
    blocks = [b for b in response.message.blocks if isinstance(b, ToolCallBlock)]
    assert [(b.tool_name, b.tool_kwargs) for b in blocks] == [("get_weather", {"city": "Paris"})]
    wire_calls = response.message.additional_kwargs["tool_calls"]
    assert wire_calls[0]["id"] == blocks[0].tool_call_id
    assert json.loads(wire_calls[0]["function"]["arguments"]) == {"city": "Paris"}
    [selection] = calls.llm.get_tool_calls_from_response(response)
    assert NINE.fullmatch(selection.tool_id)
    assert (selection.tool_name, selection.tool_kwargs) == ("get_weather", {"city": "Paris"})


@pytest.mark.parametrize("choice", ["any", True, {"type": "required"}])
async def test_every_forcing_tool_choice_form_forces_a_call(
    calls: Any, emulator: Emulator, choice: Any
):
    # The same forms the LangChain adapter takes, read once by the core.
    response = await calls.chat_with_tools([WEATHER], user_msg="Weather?", tool_choice=choice)

    assert "guided_json" in emulator.last_request.body
    [selection] = calls.llm.get_tool_calls_from_response(response)
    assert selection.tool_name == "get_weather"


@pytest.mark.parametrize("choice", ["auto", "none", {"type": "none"}])
async def test_tool_required_with_a_choice_that_does_not_force_a_call_is_refused(
    calls: Any, emulator: Emulator, choice: Any
):
    with pytest.raises(InvalidRequestError, match="tool_required=True asks for a tool call"):
        await calls.chat_with_tools(
            [WEATHER], user_msg="Weather?", tool_choice=choice, tool_required=True
        )
    assert emulator.requests == []  # refused before anything is sent


async def test_tool_required_forces_a_call_through_guided_json(calls: Any, emulator: Emulator):
    response = await calls.chat_with_tools(
        [WEATHER], user_msg="What is it like?", tool_required=True
    )

    body = emulator.last_request.body
    assert "tools" not in body
    assert "tool_choice" not in body
    assert body["guided_json"]["properties"]["city"]["type"] == "string"
    [selection] = calls.llm.get_tool_calls_from_response(response)
    assert selection.tool_name == "get_weather"
    assert NINE.fullmatch(selection.tool_id)


async def test_tool_results_are_sent_with_the_call_id(calls: Any, emulator: Emulator):
    # What FunctionAgent replays: the assistant's ToolCallBlock, then role=tool with the id.
    foreign_id = "call_JIIjI55tTipFFzpcP8re3BpM"
    history = [
        ChatMessage(role="user", content="Weather in Paris?"),
        ChatMessage(
            role="assistant",
            blocks=[
                ToolCallBlock(
                    tool_call_id=foreign_id, tool_name="get_weather", tool_kwargs={"city": "Paris"}
                )
            ],
        ),
        ChatMessage(
            role="tool", content="Sunny in Paris", additional_kwargs={"tool_call_id": foreign_id}
        ),
    ]

    response = await calls.chat_with_tools([WEATHER], chat_history=history)

    wire_id = to_mistral_tool_call_id(foreign_id)
    messages = emulator.last_request.body["messages"]
    assert messages[1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {
                "id": wire_id,
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            }
        ],
    }
    assert messages[2] == {
        "role": "tool",
        "tool_call_id": wire_id,
        "content": "Sunny in Paris",
        "name": "get_weather",
    }
    assert response.message.content == "Based on the tool results: Sunny in Paris"


async def test_legacy_tool_calls_in_additional_kwargs_are_replayed(calls: Any, emulator: Emulator):
    history = [
        ChatMessage(role="user", content="Weather in Oslo?"),
        ChatMessage(
            role="assistant",
            content="",
            additional_kwargs={
                "tool_calls": [
                    {
                        "id": "abcDEF123",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                    }
                ]
            },
        ),
        ChatMessage(role="tool", content="Rain", additional_kwargs={"tool_call_id": "abcDEF123"}),
    ]

    await calls.chat(history)

    messages = emulator.last_request.body["messages"]
    assert messages[1]["tool_calls"][0]["id"] == "abcDEF123"
    assert messages[2]["tool_call_id"] == "abcDEF123"


async def test_a_tool_result_without_its_call_id_is_refused(calls: Any, emulator: Emulator):
    history = [ChatMessage(role="user", content="hi"), ChatMessage(role="tool", content="x")]

    with pytest.raises(ValueError, match=r"messages\[1\].*tool_call_id"):
        await calls.chat(history)
    assert emulator.requests == []


async def test_streamed_tool_calls_arrive_in_both_forms(calls: Any, emulator: Emulator):
    chunks = await calls.stream_chat_with_tools([WEATHER], user_msg="Use get_weather for Rome")

    last = chunks[-1]
    assert last.message.additional_kwargs["tool_calls"][0]["function"]["name"] == "get_weather"
    assert [b.tool_name for b in last.message.blocks if isinstance(b, ToolCallBlock)] == [
        "get_weather"
    ]
    [selection] = calls.llm.get_tool_calls_from_response(last)
    assert selection.tool_kwargs == {"city": "Rome"}
    assert last.raw["usage"]["completion_tokens"] > 0
    assert emulator.last_request.body["stream"] is True
    assert emulator.last_request.body["tools"][0]["function"]["name"] == "get_weather"


async def test_predict_and_call_runs_the_chosen_tool(calls: Any, emulator: Emulator):
    result = await calls.predict_and_call([WEATHER, TIME], user_msg="Use get_time for Lima")

    assert result.response == "12:00 in Lima"
    assert result.sources[0].tool_name == "get_time"


@pytest.mark.parametrize("parallel", [True, False])
async def test_parallel_tool_calls_are_kept_only_when_allowed(
    calls: Any, emulator: Emulator, parallel: bool
):
    emulator.script(
        tool_calls=[
            {"name": "get_weather", "arguments": {"city": "Paris"}},
            {"name": "get_time", "arguments": {"city": "Paris"}},
        ]
    )

    response = await calls.chat_with_tools(
        [WEATHER, TIME], user_msg="both", allow_parallel_tool_calls=parallel
    )

    names = [s.tool_name for s in calls.llm.get_tool_calls_from_response(response)]
    assert names == (["get_weather", "get_time"] if parallel else ["get_weather"])
    assert len(response.message.additional_kwargs["tool_calls"]) == len(names)
    if not parallel:
        assert response.message.additional_kwargs["dropped_tool_calls"] == ["get_time"]


async def test_an_invalid_tool_call_is_reported_not_turned_into_empty_arguments(
    calls: Any, emulator: Emulator
):
    emulator.script(tool_calls=[{"name": "get_weather", "arguments": "{not json"}])

    response = await calls.chat_with_tools([WEATHER], user_msg="weather")

    assert response.message.additional_kwargs["invalid_tool_calls"][0]["name"] == "get_weather"
    with pytest.raises(
        ValueError, match=r"'get_weather' with arguments '\{not json'.*not valid JSON"
    ):
        calls.llm.get_tool_calls_from_response(response, error_on_no_tool_call=False)


async def test_no_tool_call_raises_only_when_asked(calls: Any, emulator: Emulator):
    response = await calls.chat_with_tools([WEATHER], user_msg="just chat")

    assert calls.llm.get_tool_calls_from_response(response, error_on_no_tool_call=False) == []
    with pytest.raises(ValueError, match="Expected at least one tool call"):
        calls.llm.get_tool_calls_from_response(response)


def test_partial_streamed_arguments_are_read_as_far_as_they_go(llm: CloudflareMistral):
    def chunk(arguments: str) -> ChatResponse:
        from llama_index_cf_mistral._messages import assistant_message

        return ChatResponse(
            message=assistant_message("", [("abcDEF123", "get_weather", arguments)])
        )

    assert llm.get_tool_calls_from_response(chunk('{"ci'))[0].tool_kwargs == {}
    # LlamaIndex's partial parser names a key before its string value is complete.
    assert llm.get_tool_calls_from_response(chunk('{"city": "Par'))[0].tool_kwargs == {"city": None}
    assert llm.get_tool_calls_from_response(chunk('{"city": "Paris"}'))[0].tool_kwargs == {
        "city": "Paris"
    }


def test_a_forced_call_to_an_unknown_tool_is_refused(llm: CloudflareMistral):
    with pytest.raises(InvalidRequestError, match="names no bound tool"):
        llm.chat_with_tools([WEATHER], user_msg="x", tool_choice="get_time")


def test_assistant_text_and_tool_calls_share_one_message(llm: CloudflareMistral):
    message = ChatMessage(
        role=MessageRole.ASSISTANT,
        blocks=[
            TextBlock(text="Let me check."),
            ToolCallBlock(tool_call_id="abcDEF123", tool_name="get_weather", tool_kwargs="{}"),
        ],
    )
    [selection] = llm.get_tool_calls_from_response(ChatResponse(message=message))
    assert selection.tool_kwargs == {}
