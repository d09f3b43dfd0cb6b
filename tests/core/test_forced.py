"""Forced tool calls: constrained decoding (guided_json) instead of the missing tool_choice."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from cf_mistral import (
    ChatRequest,
    InvalidRequestError,
    StreamEnd,
    SystemMessage,
    ToolCallDelta,
    ToolDefinition,
    UserMessage,
)
from cf_mistral._forced import plan_forced_tool_call, read_forced_call, read_tool_choice
from cf_mistral.emulator import Emulator

from .helpers import WEATHER_PARAMETERS, Driver

WEATHER = ToolDefinition("get_weather", "Current weather", WEATHER_PARAMETERS)
TIME = ToolDefinition(
    "get_time",
    "Current time",
    {
        "type": "object",
        "properties": {"zone": {"type": "string", "description": "IANA zone"}},
        "required": ["zone"],
    },
)
ADDRESS_BOOK = ToolDefinition(
    "add_contact",
    "Store a contact",
    {
        "type": "object",
        "properties": {"address": {"$ref": "#/$defs/Address", "description": "where"}},
        "required": ["address"],
        "$defs": {
            "Address": {
                "type": "object",
                "properties": {"street": {"type": "string"}, "zip": {"$ref": "#/$defs/Zip"}},
                "required": ["street", "zip"],
            },
            "Zip": {"type": "string", "pattern": "^[0-9]{5}$"},
        },
    },
)


def is_valid(value: Any, schema: dict[str, Any]) -> bool:
    return jsonschema.Draft202012Validator(schema).is_valid(value)


@pytest.mark.parametrize("choice", ["required", "any", "get_weather"])
async def test_one_forced_tool_sends_its_parameters_as_guided_json(
    emulator: Emulator, driver: Driver, choice: str
) -> None:
    result = await driver.chat(
        ChatRequest(messages=[UserMessage("Paris please")], tools=[WEATHER], tool_choice=choice)
    )
    body = emulator.last_request.body  # type: ignore[union-attr]
    assert body["guided_json"] == WEATHER_PARAMETERS
    assert "tools" not in body
    assert body["messages"][0]["role"] == "system"
    assert "get_weather" in body["messages"][0]["content"]
    assert result.finish_reason == "tool_calls"
    assert result.text == ""
    [call] = result.tool_calls
    assert call.name == "get_weather"
    assert is_valid(dict(call.arguments), WEATHER_PARAMETERS)


async def test_forcing_note_joins_an_existing_system_prompt(
    emulator: Emulator, driver: Driver
) -> None:
    await driver.chat(
        ChatRequest(
            messages=[SystemMessage("Be terse."), UserMessage("x")],
            tools=[WEATHER],
            tool_choice="required",
        )
    )
    messages = emulator.last_request.body["messages"]  # type: ignore[union-attr]
    assert len(messages) == 2
    assert messages[0]["content"].startswith("Be terse.\n\nCall the tool `get_weather`")


async def test_several_forced_tools_admit_exactly_one_call(
    emulator: Emulator, driver: Driver
) -> None:
    result = await driver.chat(
        ChatRequest(
            messages=[UserMessage("something")], tools=[WEATHER, TIME], tool_choice="required"
        )
    )
    guided = emulator.last_request.body["guided_json"]  # type: ignore[union-attr]
    assert is_valid({"name": "get_weather", "arguments": {"city": "Oslo"}}, guided)
    assert is_valid({"name": "get_time", "arguments": {"zone": "UTC"}}, guided)
    assert not is_valid({"name": "get_time", "arguments": {"city": "Oslo"}}, guided)
    assert not is_valid({"name": "other", "arguments": {}}, guided)
    assert not is_valid([{"name": "get_time", "arguments": {"zone": "UTC"}}] * 2, guided)
    assert not is_valid({"name": "get_time"}, guided)
    [call] = result.tool_calls
    assert call.name in ("get_weather", "get_time")
    assert result.finish_reason == "tool_calls"


def test_tool_defs_are_hoisted_and_refs_rewritten() -> None:
    plan = plan_forced_tool_call([ADDRESS_BOOK, WEATHER], "required")
    assert plan is not None
    guided = plan.guided_json
    assert set(guided["$defs"]) == {"add_contact__Address", "add_contact__Zip"}
    good = {
        "name": "add_contact",
        "arguments": {"address": {"street": "Main", "zip": "12345"}},
    }
    assert is_valid(good, guided)
    bad_zip = {"name": "add_contact", "arguments": {"address": {"street": "Main", "zip": "x"}}}
    assert not is_valid(bad_zip, guided)
    # The caller's schema is not mutated.
    assert "$defs" in ADDRESS_BOOK.parameters


async def test_forced_call_with_defs_round_trips_through_the_emulator(
    emulator: Emulator, driver: Driver
) -> None:
    result = await driver.chat(
        ChatRequest(
            messages=[UserMessage("add one")], tools=[ADDRESS_BOOK, WEATHER], tool_choice="required"
        )
    )
    [call] = result.tool_calls
    parameters = ADDRESS_BOOK.parameters if call.name == "add_contact" else WEATHER_PARAMETERS
    assert is_valid(dict(call.arguments), dict(parameters))


@pytest.mark.parametrize("tools", [[WEATHER], [WEATHER, TIME]])
async def test_forced_call_streams_as_tool_call_deltas(
    emulator: Emulator, driver: Driver, tools: list[ToolDefinition]
) -> None:
    events = await driver.stream(
        ChatRequest(messages=[UserMessage("go")], tools=tools, tool_choice="required")
    )
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert deltas
    assert deltas[0].index == 0
    assert deltas[0].id is not None
    assert deltas[0].name in {t.name for t in tools}
    end = events[-1]
    assert isinstance(end, StreamEnd)
    [call] = end.result.tool_calls
    assert call.id == deltas[0].id
    assert end.result.text == ""
    if len(tools) == 1:
        assert json.loads("".join(d.arguments for d in deltas)) == dict(call.arguments)


async def test_forced_reply_as_object_is_read_as_the_call(
    emulator: Emulator, driver: Driver
) -> None:
    # WIRE-FORMAT §3.3: guided_json output may come back as an object, not a string.
    emulator.configure(guided_json_response="object")
    result = await driver.chat(
        ChatRequest(messages=[UserMessage("x")], tools=[WEATHER, TIME], tool_choice="get_time")
    )
    [call] = result.tool_calls
    assert call.name == "get_time"
    assert isinstance(call.arguments["zone"], str)


async def test_unreadable_forced_reply_becomes_an_invalid_tool_call(
    emulator: Emulator, driver: Driver
) -> None:
    emulator.script(text="not json at all")
    result = await driver.chat(
        ChatRequest(messages=[UserMessage("x")], tools=[WEATHER, TIME], tool_choice="required")
    )
    assert result.tool_calls == ()
    [invalid] = result.invalid_tool_calls
    assert invalid.name is None
    assert invalid.arguments  # the text is kept, never dropped
    assert invalid.error


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('{"name": "b", "arguments": {"x": 1}}', ("b", '{"x": 1}')),
        ({"name": "a", "arguments": '{"y": 2}'}, ("a", '{"y": 2}')),
        ({"name": "zzz", "arguments": {}}, (None, '{"name": "zzz", "arguments": {}}')),
        ("oops", (None, "oops")),
    ],
)
def test_read_forced_call_among_several(value: Any, expected: tuple[str | None, str]) -> None:
    a = ToolDefinition("a")
    b = ToolDefinition("b")
    plan = plan_forced_tool_call([a, b], "any")
    assert plan is not None
    assert read_forced_call(plan, value) == expected


@pytest.mark.parametrize(
    ("tools", "choice", "fragment"),
    [
        ([], "required", "no tools were given"),
        ([WEATHER], "get_time", "names no bound tool; the tools are 'get_weather'"),
    ],
)
def test_forcing_without_a_matching_tool_is_refused(
    tools: list[ToolDefinition], choice: str, fragment: str
) -> None:
    with pytest.raises(InvalidRequestError, match=fragment):
        plan_forced_tool_call(tools, choice)


@pytest.mark.parametrize("choice", [None, "auto", "none"])
def test_auto_and_none_do_not_force(choice: str | None) -> None:
    assert plan_forced_tool_call([WEATHER], choice) is None


def test_refs_that_are_not_local_definitions_are_left_alone() -> None:
    tool = ToolDefinition(
        "t",
        parameters={
            "type": "object",
            "properties": {
                "a": {"$ref": "#/$defs/A"},
                "b": {"$ref": "https://example.com/schema.json"},
                "c": {"$ref": "#/definitions/Missing"},
            },
            "definitions": {"A": {"type": "integer"}},
        },
    )
    plan = plan_forced_tool_call([tool, WEATHER], "required")
    assert plan is not None
    properties = plan.guided_json["anyOf"][0]["properties"]["arguments"]["properties"]
    assert properties["a"] == {"$ref": "#/$defs/t__A"}
    assert properties["b"] == {"$ref": "https://example.com/schema.json"}
    assert properties["c"] == {"$ref": "#/definitions/Missing"}


def test_a_forced_tool_without_parameters_admits_only_an_empty_object() -> None:
    plan = plan_forced_tool_call([ToolDefinition("ping", "Check the service")], "ping")

    assert plan is not None
    assert plan.guided_json == {"type": "object", "properties": {}, "additionalProperties": False}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, None),
        (False, "none"),
        (True, "required"),
        ("any", "required"),
        ("auto", "auto"),
        ("get_weather", "get_weather"),
        ({"type": "function", "function": {"name": "get_weather"}}, "get_weather"),
        ({"name": "get_weather"}, "get_weather"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
    ],
)
def test_tool_choice_forms_both_frameworks_pass(choice: object, expected: str | None) -> None:
    assert read_tool_choice(choice) == expected


@pytest.mark.parametrize(
    "choice",
    [3, {"type": "function"}, {"function": {}}, ["get_weather"], {"name": 3}, {"name": ["w"]}],
)
def test_a_tool_choice_it_cannot_read_is_refused_by_name(choice: object) -> None:
    with pytest.raises(InvalidRequestError, match=r"tool_choice=.* is not understood"):
        read_tool_choice(choice)


@pytest.mark.parametrize(
    "choice",
    [
        {"type": "none", "name": "get_weather"},
        {"type": "auto", "function": {"name": "get_weather"}},
    ],
)
def test_a_tool_choice_that_names_a_tool_and_says_none_or_auto_is_refused(choice: object) -> None:
    # Neither reading is safe: forcing the tool would override "none", dropping it the name.
    with pytest.raises(InvalidRequestError, match=r"names the tool 'get_weather' but says"):
        read_tool_choice(choice)
