"""The pure LangChain ↔ core conversions, pinned by vectors."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import (
    AIMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

import cf_mistral as cf
from langchain_cf_mistral._messages import (
    response_format_to_schema,
    to_core_messages,
    tool_choice_to_core,
)


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, None),
        ("auto", "auto"),
        ("none", "none"),
        (False, "none"),
        ("any", "required"),
        ("required", "required"),
        (True, "required"),
        ("get_weather", "get_weather"),
        ({"type": "function", "function": {"name": "get_weather"}}, "get_weather"),
        ({"type": "tool", "name": "get_weather"}, "get_weather"),
        ({"type": "any"}, "required"),
    ],
)
def test_tool_choice_forms(choice: Any, expected: str | None) -> None:
    assert tool_choice_to_core(choice) == expected


SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}}


@pytest.mark.parametrize(
    ("response_format", "expected"),
    [
        (None, None),
        ({"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA}}, SCHEMA),
        ({"type": "json_object"}, {}),
        ({"type": "text"}, None),
        (SCHEMA, SCHEMA),
    ],
)
def test_response_format_forms(response_format: Any, expected: Any) -> None:
    assert response_format_to_schema(response_format) == expected


@pytest.mark.parametrize(
    "bad", ["json", {"type": "json_schema", "json_schema": {}}, {"type": "yaml"}]
)
def test_bad_response_format_is_refused(bad: Any) -> None:
    with pytest.raises(cf.InvalidRequestError, match="response_format"):
        response_format_to_schema(bad)


def test_roles_and_blocks_map_to_core_messages() -> None:
    converted = to_core_messages(
        [
            ChatMessage(role="system", content="sys"),
            ChatMessage(role="user", content="hi"),
            AIMessage(
                content=[
                    {"type": "thinking", "thinking": "hmm", "signature": "x"},
                    {"type": "text", "text": "Hello"},
                ]
            ),
            HumanMessage(content=["plain string part", {"type": "text", "text": " and text"}]),
        ]
    )
    assert converted == [
        cf.SystemMessage("sys"),
        cf.UserMessage("hi"),
        cf.AssistantMessage(content="Hello"),
        cf.UserMessage([cf.TextPart("plain string part"), cf.TextPart(" and text")]),
    ]


def test_answered_invalid_tool_calls_are_kept_unanswered_ones_are_not() -> None:
    ai = AIMessage(
        "",
        invalid_tool_calls=[
            {
                "id": "a",
                "name": "f",
                "args": '{"x": 1}',
                "error": "bad",
                "type": "invalid_tool_call",
            },
            {"id": "b", "name": "f", "args": "{oops", "error": "bad", "type": "invalid_tool_call"},
        ],
    )
    converted = to_core_messages([HumanMessage("x"), ai, ToolMessage("err", tool_call_id="a")])
    assistant = converted[1]
    assert isinstance(assistant, cf.AssistantMessage)
    assert assistant.tool_calls == (cf.ToolCall(id="a", name="f", arguments={"x": 1}),)


def test_tool_result_lists_become_text() -> None:
    converted = to_core_messages(
        [
            HumanMessage("x"),
            AIMessage("", tool_calls=[{"id": "a", "name": "f", "args": {}}]),
            ToolMessage(
                content=["line one", {"type": "text", "text": "line two"}], tool_call_id="a"
            ),
        ]
    )
    assert converted[2] == cf.ToolMessage(tool_call_id="a", content="line one\nline two")


@pytest.mark.parametrize(
    ("message", "match"),
    [
        (FunctionMessage(name="f", content="x"), "FunctionMessage"),
        (ChatMessage(role="critic", content="x"), "'critic'"),
        (AIMessage(content=[{"type": "image_url", "image_url": {"url": "data:x"}}]), "assistant"),
        (HumanMessage(content=[{"type": "image", "file_id": "file-1"}]), "file ids"),
        (
            HumanMessage(content=[{"type": "audio", "base64": "AA", "mime_type": "audio/wav"}]),
            "audio",
        ),
    ],
)
def test_what_mistral_cannot_take_is_refused_by_name(message: Any, match: str) -> None:
    with pytest.raises(cf.InvalidRequestError, match=match):
        to_core_messages([message])


def test_system_message_blocks() -> None:
    assert to_core_messages([SystemMessage(content=[{"type": "text", "text": "s"}])]) == [
        cf.SystemMessage([cf.TextPart("s")])
    ]
