"""Reply parsing: every variant of WIRE-FORMAT §3 and §11 becomes a ChatResult or a clear error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from cf_mistral import (
    DEFAULT_MODEL,
    DEFAULT_PRICING,
    ChatRequest,
    ChatResult,
    InvalidToolCall,
    ModelPrice,
    QuotaExceededError,
    RateLimitError,
    ResponseParseError,
    ToolCall,
    ToolDefinition,
    Usage,
    UserMessage,
    estimate_cost_usd,
)
from cf_mistral._request import prepare_call
from cf_mistral._response import parse_reply, parse_usage
from cf_mistral.emulator import Emulator

from .helpers import WEATHER_PARAMETERS, Driver

WEATHER = ToolDefinition("get_weather", "Weather", WEATHER_PARAMETERS)
TOOLS = (WEATHER,)


def parse(body: Any, **request: Any) -> ChatResult:
    request.setdefault("messages", [UserMessage("q")])
    call = prepare_call(ChatRequest(**request), stream=False)
    return parse_reply(body, call, model="m", request_id="rid")


def envelope(result: Any) -> dict[str, Any]:
    return {"result": result, "success": True, "errors": [], "messages": []}


@pytest.mark.parametrize(
    ("response", "text"),
    [
        ("Hello", "Hello"),
        ({"name": "India", "capital": "New Delhi"}, '{"name": "India", "capital": "New Delhi"}'),
        (42, "42"),
        (3.5, "3.5"),
        ("", ""),
        (None, ""),
        (
            [{"type": "text", "text": "a"}, {"type": "image_url"}, {"type": "text", "text": "b"}],
            "ab",
        ),
    ],
)
@pytest.mark.parametrize("wrapped", [True, False], ids=["envelope", "bare"])
def test_response_of_every_type_becomes_text(response: Any, text: str, wrapped: bool) -> None:
    result_body = {"response": response, "usage": {"prompt_tokens": 1, "completion_tokens": 1}}
    result = parse(envelope(result_body) if wrapped else result_body)
    assert result.text == text
    assert result.finish_reason == "stop"
    assert result.model == "m"
    assert result.request_id == "rid"


def test_absent_response_with_tool_calls_is_no_text() -> None:
    result = parse(
        envelope({"tool_calls": [{"name": "get_weather", "arguments": {"city": "X"}}]}),
        tools=TOOLS,
    )
    assert result.text == ""
    assert result.tool_calls[0].arguments == {"city": "X"}


@pytest.mark.parametrize(
    "item",
    [
        {"name": "get_weather", "arguments": {"city": "Paris"}},
        {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"name": "get_weather", "parameters": {"city": "Paris"}},
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
        {
            "id": "chatcmpl-tool-875d3ec6179676ae",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        },
    ],
    ids=["flat-object", "flat-string", "flat-parameters", "openai-object", "openai-string"],
)
@pytest.mark.parametrize("response", ["", None, "absent"])
def test_tool_call_shapes_are_all_read(item: dict[str, Any], response: Any) -> None:
    result_body: dict[str, Any] = {"tool_calls": [item], "usage": {"prompt_tokens": 3}}
    if response != "absent":
        result_body["response"] = response
    result = parse(envelope(result_body), tools=TOOLS)
    [call] = result.tool_calls
    assert call.name == "get_weather"
    assert call.arguments == {"city": "Paris"}
    assert len(call.id) == 9
    assert call.id.isalnum()
    assert result.finish_reason == "tool_calls"
    assert result.invalid_tool_calls == ()


def test_server_ids_are_mapped_to_nine_characters_deterministically() -> None:
    item = {"id": "call_JIIjI55tTipFFzpcP8re3BpM", "function": {"name": "get_weather"}}
    assert parse(envelope({"tool_calls": [item]}), tools=TOOLS).tool_calls[0].id == "8kxAQvoED"


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ('{"city": ', "not valid JSON"),
        ("[1, 2]", "must be a JSON object, got list"),
        (7, "must be a JSON object, got int"),
    ],
)
def test_malformed_arguments_become_invalid_tool_calls_with_the_error(
    arguments: Any, error: str
) -> None:
    result = parse(
        envelope({"response": "", "tool_calls": [{"name": "get_weather", "arguments": arguments}]}),
        tools=TOOLS,
    )
    assert result.tool_calls == ()
    [invalid] = result.invalid_tool_calls
    assert invalid.name == "get_weather"
    assert error in invalid.error
    assert invalid.arguments == (arguments if isinstance(arguments, str) else json.dumps(arguments))
    assert result.finish_reason == "tool_calls"


def test_missing_or_undeclared_names_become_invalid_tool_calls() -> None:
    result = parse(
        envelope(
            {
                "tool_calls": [
                    {"arguments": {"a": 1}},
                    {"name": "rm_rf", "arguments": {}},
                    {"name": "get_weather", "arguments": {"city": "X"}},
                    "garbage",
                ]
            }
        ),
        tools=TOOLS,
    )
    assert [c.name for c in result.tool_calls] == ["get_weather"]
    errors = [c.error for c in result.invalid_tool_calls]
    assert len(errors) == 3
    assert "no name" in errors[0]
    assert "'rm_rf', which is not a bound tool (get_weather)" in errors[1]
    ids = [c.id for c in (*result.tool_calls, *result.invalid_tool_calls)]
    assert len(set(ids)) == 4


def test_null_or_empty_arguments_are_an_empty_object() -> None:
    result = parse(
        envelope({"tool_calls": [{"name": "get_weather", "arguments": None}]}), tools=TOOLS
    )
    assert result.tool_calls[0].arguments == {}


def test_single_tool_call_object_instead_of_a_list_is_read() -> None:
    result = parse(envelope({"tool_calls": {"name": "get_weather", "arguments": {}}}), tools=TOOLS)
    assert result.tool_calls[0].name == "get_weather"


@pytest.mark.parametrize(
    "text",
    [
        '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Rome"}}]',
        '[TOOL_CALLS] {"name": "get_weather", "arguments": {"city": "Rome"}}',
        '{"name": "get_weather", "arguments": "{\\"city\\": \\"Rome\\"}"}',
        '{"name": "get_weather", "parameters": {"city": "Rome"}}',
        '  {"name": "get_weather", "city": "Rome"}  ',
    ],
)
def test_tool_call_leaked_as_text_is_salvaged_for_declared_tools(text: str) -> None:
    result = parse(envelope({"response": text}), tools=TOOLS)
    assert result.text == ""
    [call] = result.tool_calls
    assert call == ToolCall(call.id, "get_weather", {"city": "Rome"})
    assert result.finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("text", "tools"),
    [
        ('{"name": "get_weather", "arguments": {}}', ()),
        ('{"name": "delete_all", "arguments": {}}', TOOLS),
        ('[{"name": "get_weather"}, {"name": "delete_all"}]', TOOLS),
        ("[TOOL_CALLS] not json", TOOLS),
        ("[]", TOOLS),
        ('{"city": "Rome"}', TOOLS),
        ('{"name": ["get_weather"], "arguments": {}}', TOOLS),
        ('[TOOL_CALLS] [{"name": {"x": 1}}]', TOOLS),
    ],
)
def test_text_that_names_no_declared_tool_stays_text(text: str, tools: Any) -> None:
    result = parse(envelope({"response": text}), tools=tools)
    assert result.text == text
    assert result.tool_calls == ()
    assert result.invalid_tool_calls == ()


def test_json_reply_is_never_salvaged_as_a_tool_call() -> None:
    text = '{"name": "get_weather", "arguments": {}}'
    result = parse(envelope({"response": text}), tools=TOOLS, response_schema={})
    assert result.text == text
    assert result.tool_calls == ()


def test_choices_shape_is_read() -> None:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "functions.get_weather:0",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11, "neurons": 0.3},
    }
    result = parse(body, tools=TOOLS)
    assert result.text == ""
    assert result.tool_calls[0].arguments == {"city": "Oslo"}
    assert result.usage == Usage(5, 6, 11)


@pytest.mark.parametrize(
    ("reported", "expected"), [("length", "length"), ("stop", "stop"), (None, "stop")]
)
def test_choices_finish_reason_is_mapped(reported: str | None, expected: str) -> None:
    body = envelope(
        {"choices": [{"message": {"content": "hi"}, "finish_reason": reported}], "usage": None}
    )
    assert parse(body).finish_reason == expected


def test_empty_choices_is_an_empty_reply() -> None:
    result = parse({"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 0}})
    assert result.text == ""
    assert result.usage == Usage(1, 0, 1)


def test_usage_reads_cached_tokens_and_keeps_extra_keys_such_as_float_neurons() -> None:
    usage = {
        "prompt_tokens": 39,
        "completion_tokens": 1,
        "total_tokens": 40,
        "neurons": 0.204805,
        "prompt_tokens_details": {"cached_tokens": 32},
    }
    parsed = parse(envelope({"response": "x", "usage": usage})).usage
    assert parsed == Usage(39, 1, 40, cached_tokens=32)
    assert parsed is not None
    assert parsed.extra == {"neurons": 0.204805, "prompt_tokens_details": {"cached_tokens": 32}}


@pytest.mark.parametrize(
    ("details", "cached"),
    [
        ({"cached_tokens": 7}, 7),
        ({"cached_tokens": 7.0}, 7),
        ({"cached_tokens": None}, 0),
        ({"cached_tokens": "7"}, 0),
        ({"cached_tokens": True}, 0),
        ({"cached_tokens": -3}, 0),
        ({"cached_tokens": float("nan")}, 0),
        ({"cached_tokens": 500}, 10),  # a part of the prompt: never more than prompt_tokens
        ({}, 0),
        (None, 0),
        ([7], 0),
        ("7", 0),
    ],
)
def test_cached_tokens_are_read_defensively(details: Any, cached: int) -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 2, "prompt_tokens_details": details}
    parsed = parse_usage(usage)
    assert parsed is not None
    assert (parsed.prompt_tokens, parsed.cached_tokens) == (10, cached)


def test_usages_add_up_with_their_cached_tokens_and_numeric_extras() -> None:
    first = parse_usage({"prompt_tokens": 5, "neurons": 0.5, "prompt_tokens_details": {}})
    second = parse_usage(
        {"prompt_tokens": 7, "neurons": 0.25, "prompt_tokens_details": {"cached_tokens": 3}}
    )
    assert first is not None
    assert second is not None
    total = first + second
    assert total == Usage(12, 0, 12, cached_tokens=3)
    assert total.extra == {"neurons": 0.75, "prompt_tokens_details": {"cached_tokens": 3}}


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"prompt_tokens": 2, "completion_tokens": 3}, Usage(2, 3, 5)),
        ({"prompt_tokens": 2.0, "completion_tokens": 3.0, "total_tokens": 5.0}, Usage(2, 3, 5)),
        ({"prompt_tokens": "2", "completion_tokens": True}, Usage(0, 0, 0)),
        ({}, Usage(0, 0, 0)),
        (None, None),
        ([1, 2], None),
    ],
)
def test_usage_counts_are_read_defensively(usage: Any, expected: Usage | None) -> None:
    assert parse_usage(usage) == expected


def test_usage_cost_uses_the_published_prices() -> None:
    assert Usage(1_000_000, 1_000_000, 2_000_000).cost_usd == pytest.approx(0.35 + 0.56)


def test_cached_input_costs_full_price_when_no_cached_price_is_published() -> None:
    # None is published for mistral-small-3.1: an estimate never below the bill.
    assert DEFAULT_PRICING[DEFAULT_MODEL].cached_input_usd_per_million is None
    cached = Usage(1_000_000, 0, 1_000_000, cached_tokens=600_000)
    assert cached.cost_usd == pytest.approx(0.35)
    assert estimate_cost_usd(1_000_000, 0, cached_tokens=600_000) == pytest.approx(0.35)


def test_cached_input_costs_the_cached_price_where_one_is_known() -> None:
    price = ModelPrice(
        input_usd_per_million=1.0, output_usd_per_million=4.0, cached_input_usd_per_million=0.1
    )
    usage = Usage(1_000_000, 500_000, 1_500_000, cached_tokens=600_000)
    assert price.cost_usd(usage) == pytest.approx(0.4 * 1.0 + 0.6 * 0.1 + 0.5 * 4.0)


def test_a_price_cannot_be_negative_or_misnamed() -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        ModelPrice(input_usd_per_million=-1, output_usd_per_million=1)
    with pytest.raises(ValidationError, match="cached_input"):
        ModelPrice(input_usd_per_million=1, output_usd_per_million=1, cached_input=0.1)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("completion_tokens", "expected"), [(16, "length"), (15, "stop"), (17, "length")]
)
def test_finish_reason_length_when_max_tokens_used_up(
    completion_tokens: int, expected: str
) -> None:
    body = envelope({"response": "x", "usage": {"completion_tokens": completion_tokens}})
    assert parse(body, params={"max_tokens": 16}).finish_reason == expected


def test_finish_reason_reported_by_the_server_is_honoured() -> None:
    assert parse(envelope({"response": "x", "finish_reason": "length"})).finish_reason == "length"
    assert parse(envelope({"response": "x", "finish_reason": "eos"})).finish_reason == "stop"


def test_stop_sequence_cuts_the_reply_and_finishes_with_stop() -> None:
    body = envelope({"response": "one two END three", "usage": {"completion_tokens": 16}})
    result = parse(body, stop=["END", "two"], params={"max_tokens": 16})
    assert result.text == "one "
    assert result.finish_reason == "stop"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([1, 2], "Expected a JSON object from Workers AI, got list"),
        ("text", "got str"),
        (envelope("a string"), "not an object with 'response'"),
        (envelope({"status": "queued", "request_id": "r"}), "neither 'response'"),
        ({"something": "else"}, "neither 'response'"),
        ({"choices": True}, "'choices' is true, not a list"),
        ({"choices": {"0": {}}}, "not a list of objects"),
        ({"choices": [{"message": "hi"}]}, "with a 'message' object"),
        (envelope({"responses": [], "usage": {}}), "neither 'response'"),
    ],
)
def test_unknown_reply_shapes_raise_response_parse_error(body: Any, fragment: str) -> None:
    with pytest.raises(ResponseParseError, match=fragment) as info:
        parse(body)
    assert info.value.request_id == "rid"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            {"success": False, "errors": [{"code": 3040, "message": "Capacity temporarily"}]},
            RateLimitError,
        ),
        ({"errors": [{"code": 4006, "message": "daily free allocation"}]}, QuotaExceededError),
    ],
)
def test_error_body_with_http_200_raises_its_error(body: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        parse(body)


# -- the same variants, end to end through the emulator -----------------------------------


@pytest.mark.parametrize(
    ("config", "expected_text"),
    [
        ({"tool_turn_response": "null"}, ""),
        ({"tool_turn_response": "absent"}, ""),
        ({"arguments_as_string": True}, ""),
        ({"empty_tool_calls_noise": True}, ""),
    ],
)
async def test_tool_reply_variants_through_the_client(
    emulator: Emulator, driver: Driver, config: dict[str, Any], expected_text: str
) -> None:
    emulator.configure(**config)
    result = await driver.chat(
        ChatRequest(messages=[UserMessage("call get_weather for Paris")], tools=TOOLS)
    )
    assert result.text == expected_text
    [call] = result.tool_calls
    assert call.name == "get_weather"
    assert isinstance(call.arguments["city"], str)
    assert result.usage is not None


@pytest.mark.parametrize(
    "raw_result",
    [
        {"response": 42, "usage": {"prompt_tokens": 1, "completion_tokens": 1, "neurons": 0.1}},
        {"response": {"a": 1}},
        {"response": None, "tool_calls": [{"name": "get_weather", "arguments": '{"city": '}]},
        {"choices": [{"message": {"content": "hey"}, "finish_reason": "stop"}]},
        {"response": '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Rome"}}]'},
    ],
)
async def test_result_variants_through_the_client(
    emulator: Emulator, driver: Driver, raw_result: dict[str, Any]
) -> None:
    emulator.script(raw_result=raw_result)
    result = await driver.chat(ChatRequest(messages=[UserMessage("x")], tools=TOOLS))
    assert result.raw == envelope(raw_result)
    assert result.request_id
    assert parse(envelope(raw_result), tools=TOOLS).text == result.text
    if "tool_calls" in raw_result:
        assert isinstance(result.invalid_tool_calls[0], InvalidToolCall)


async def test_non_json_success_body_raises_response_parse_error(
    emulator: Emulator, driver: Driver
) -> None:
    emulator.script(raw_body="<html>hello</html>", content_type="text/html")
    with pytest.raises(ResponseParseError, match="not JSON") as info:
        await driver.chat(ChatRequest(messages=[UserMessage("x")]))
    assert info.value.status_code == 200
    assert info.value.request_id


def test_negative_or_non_finite_usage_counts_read_as_zero() -> None:
    usage = {"prompt_tokens": -3, "completion_tokens": float("inf"), "total_tokens": float("nan")}
    assert parse_usage(usage) == Usage(0, 0, 0)


def test_invalid_json_after_the_leak_marker_stays_text() -> None:
    text = '[TOOL_CALLS] {"name": "get_weather", '
    assert parse(envelope({"response": text}), tools=TOOLS).text == text
