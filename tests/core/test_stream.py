"""Stream assembly: text, every tool-call shape of WIRE-FORMAT §4.4, usage once, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cf_mistral import (
    ChatRequest,
    RateLimitError,
    StreamEnd,
    StreamEvent,
    StreamInterruptedError,
    TextDelta,
    ToolCallDelta,
    ToolDefinition,
    Usage,
    UsageEvent,
    UserMessage,
)
from cf_mistral._request import prepare_call
from cf_mistral._stream import StreamAccumulator
from cf_mistral.emulator import Emulator, Fault, FaultKind

from .helpers import WEATHER_PARAMETERS, Driver

WEATHER = ToolDefinition("get_weather", "Weather", WEATHER_PARAMETERS)


def accumulator(**request: Any) -> StreamAccumulator:
    request.setdefault("messages", [UserMessage("q")])
    return StreamAccumulator(prepare_call(ChatRequest(**request), stream=True), model="m")


def run(payloads: list[Any], **request: Any) -> list[StreamEvent]:
    acc = accumulator(**request)
    events: list[StreamEvent] = []
    for payload in payloads:
        events += acc.feed(payload if isinstance(payload, str) else json.dumps(payload))
    return events + acc.finish(request_id="rid")


def end_of(events: list[StreamEvent]) -> StreamEnd:
    assert isinstance(events[-1], StreamEnd)
    return events[-1]


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def usage_events(events: list[StreamEvent]) -> list[UsageEvent]:
    return [e for e in events if isinstance(e, UsageEvent)]


def assert_call(events: list[StreamEvent], name: str, arguments: dict[str, Any]) -> None:
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert deltas[0].id is not None
    assert len(deltas[0].id) == 9
    assert [d.name for d in deltas if d.name] == [name]
    assert json.loads("".join(d.arguments for d in deltas)) == arguments
    result = end_of(events).result
    [call] = result.tool_calls
    assert (call.id, call.name, dict(call.arguments)) == (deltas[0].id, name, arguments)
    assert result.finish_reason == "tool_calls"


USAGE = {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10}


def test_native_text_stream_with_padding_and_noise() -> None:
    events = run(
        [
            {"response": "", "tool_calls": [], "p": "abc"},
            {"response": "Hel", "tool_calls": [], "p": "abcdefg"},
            {"response": "lo", "p": "x"},
            {"tool_calls": [], "p": "abcdefghi"},
            {"response": 7},
            {"response": "", "usage": USAGE},
            "[DONE]",
        ]
    )
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["Hel", "lo", "7"]
    assert events[-2] == UsageEvent(Usage(4, 6, 10))
    result = end_of(events).result
    assert result.text == "Hello7"
    assert result.request_id == "rid"
    assert result.finish_reason == "stop"


def test_shape_1_flat_tool_call_in_one_event() -> None:
    events = run(
        [
            {"response": "", "tool_calls": [{"name": "get_weather", "arguments": {"city": "SF"}}]},
            {"response": "", "usage": USAGE},
            "[DONE]",
        ],
        tools=[WEATHER],
    )
    assert_call(events, "get_weather", {"city": "SF"})


def test_shape_1_flat_calls_with_string_arguments_get_separate_indexes() -> None:
    events = run(
        [
            {"tool_calls": [{"name": "get_weather", "arguments": '{"city": "A"}'}]},
            {"tool_calls": [{"name": "get_weather", "arguments": {"city": "B"}}]},
            "[DONE]",
        ],
        tools=[WEATHER],
    )
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert [d.index for d in deltas] == [0, 1]
    assert [dict(c.arguments) for c in end_of(events).result.tool_calls] == [
        {"city": "A"},
        {"city": "B"},
    ]


@pytest.mark.parametrize("name_first", [True, False])
def test_shape_2_openai_deltas_with_null_sentinel(name_first: bool) -> None:
    head = {
        "tool_calls": [
            {
                "id": "chatcmpl-tool-1",
                "type": "function",
                "index": 0,
                "function": {"name": "get_weather"},
            }
        ]
    }
    parts = [
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": 'London"}'}}]},
    ]
    sentinel = {
        "tool_calls": [
            {"id": None, "type": None, "index": 0, "function": {"name": None, "arguments": ""}}
        ]
    }
    order = [head, *parts] if name_first else [parts[0], head, parts[1]]
    events = run([*order, sentinel, {"response": "", "usage": USAGE}, "[DONE]"], tools=[WEATHER])
    assert_call(events, "get_weather", {"city": "London"})
    assert len(usage_events(events)) == 1


def test_shape_2_sentinel_alone_makes_no_call() -> None:
    sentinel = {"tool_calls": [{"index": 0, "function": {"name": None, "arguments": ""}}]}
    events = run([sentinel, {"response": "hi"}, "[DONE]"], tools=[WEATHER])
    assert end_of(events).result.tool_calls == ()
    assert text_of(events) == "hi"


def test_shape_3_finish_reason_event() -> None:
    events = run(
        [
            {"tool_calls": [{"name": "get_weather", "arguments": {"city": "SF"}}]},
            {"finish_reason": "tool_calls"},
            "[DONE]",
        ],
        tools=[WEATHER],
    )
    assert_call(events, "get_weather", {"city": "SF"})


def test_finish_reason_length_event_without_tools() -> None:
    events = run([{"response": "cut"}, {"finish_reason": "length"}, "[DONE]"])
    assert end_of(events).result.finish_reason == "length"


def chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        "p": "pad",
    }
    if usage is not None:
        out["usage"] = usage
    return out


def test_shape_4_choices_deltas() -> None:
    call_head = {
        "index": 0,
        "id": "functions.get_weather:0",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    events = run(
        [
            chunk({"role": "assistant", "content": ""}),
            chunk({"tool_calls": [call_head]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Oslo"}'}}]}),
            chunk({}, "tool_calls"),
            "[DONE]",
        ],
        tools=[WEATHER],
    )
    assert_call(events, "get_weather", {"city": "Oslo"})


def test_shape_4_choices_text_deltas() -> None:
    events = run(
        [chunk({"content": "Hi"}), chunk({"content": " there"}), chunk({}, "stop"), "[DONE]"]
    )
    assert text_of(events) == "Hi there"


@pytest.mark.parametrize(
    "pieces",
    [
        ['[TOOL_CALLS][{"name": "get_weather", ', '"arguments": {"city": "Rome"}}]'],
        ["[TOOL", '_CALLS] {"name": "get_weather", "arguments": {"city": "Rome"}}'],
        ["  ", '{"name": "get_weather",', ' "parameters": {"city": "Rome"}}'],
    ],
)
def test_shape_5_tool_call_streamed_as_text_is_salvaged(pieces: list[str]) -> None:
    events = run([*({"response": p} for p in pieces), "[DONE]"], tools=[WEATHER])
    assert text_of(events) == ""
    assert_call(events, "get_weather", {"city": "Rome"})
    assert end_of(events).result.text == ""


def test_json_text_naming_no_declared_tool_is_released_as_text() -> None:
    pieces = ['{"name": "other",', ' "arguments": {}}']
    events = run([*({"response": p} for p in pieces), "[DONE]"], tools=[WEATHER])
    assert text_of(events) == "".join(pieces)
    assert end_of(events).result.tool_calls == ()


def test_plain_text_with_tools_bound_is_not_held_back() -> None:
    acc = accumulator(tools=[WEATHER])
    assert acc.feed(json.dumps({"response": "Sure"})) == [TextDelta("Sure")]


def test_usage_terminal_cumulative_event_wins_over_per_chunk_usage() -> None:
    # A gemma-4-like stream (WIRE-FORMAT §4.3): incremental usage on chunks, then the total.
    step = {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11, "neurons": 0.1}
    events = run(
        [
            chunk({"content": "a"}, usage=step),
            chunk({"content": "b"}, usage=step),
            {"choices": [], "usage": step},
            {"response": "", "usage": {"prompt_tokens": 10, "completion_tokens": 2}},
            "[DONE]",
        ]
    )
    assert usage_events(events) == [UsageEvent(Usage(10, 2, 12))]
    assert end_of(events).result.usage == Usage(10, 2, 12)


def test_usage_per_chunk_is_summed_only_without_a_terminal_event() -> None:
    step = {"prompt_tokens": 0, "completion_tokens": 1, "total_tokens": 1}
    events = run(
        [chunk({"content": "a"}, usage=step), chunk({"content": "b"}, usage=step), "[DONE]"]
    )
    assert usage_events(events) == [UsageEvent(Usage(0, 2, 2))]


def test_summed_per_chunk_usage_keeps_cached_tokens_and_neurons() -> None:
    step = {
        "prompt_tokens": 4,
        "completion_tokens": 1,
        "neurons": 0.25,
        "prompt_tokens_details": {"cached_tokens": 3},
    }
    events = run(
        [chunk({"content": "a"}, usage=step), chunk({"content": "b"}, usage=step), "[DONE]"]
    )
    (event,) = usage_events(events)
    assert event.usage == Usage(8, 2, 10, cached_tokens=6)
    assert event.usage.extra["neurons"] == 0.5


def test_terminal_usage_carries_the_cached_part_of_the_prompt() -> None:
    usage = {"prompt_tokens": 6377, "completion_tokens": 349, "total_tokens": 6726}
    terminal = {
        "response": "",
        "usage": {**usage, "prompt_tokens_details": {"cached_tokens": 2861}},
    }
    events = run([{"response": "a"}, terminal, "[DONE]"])
    assert usage_events(events) == [UsageEvent(Usage(6377, 349, 6726, cached_tokens=2861))]
    assert end_of(events).result.usage == Usage(6377, 349, 6726, cached_tokens=2861)


def test_no_usage_event_when_the_server_sends_none() -> None:
    events = run([{"response": "a"}, "[DONE]"])
    assert usage_events(events) == []
    assert end_of(events).result.usage is None


def test_usage_event_comes_once_just_before_the_end() -> None:
    events = run([{"response": "a", "usage": USAGE}, {"response": "", "usage": USAGE}, "[DONE]"])
    assert [type(e) for e in events] == [TextDelta, UsageEvent, StreamEnd]


def test_length_finish_when_completion_tokens_reach_max_tokens() -> None:
    events = run(
        [{"response": "abc"}, {"response": "", "usage": {"completion_tokens": 5}}, "[DONE]"],
        params={"max_tokens": 5},
    )
    assert end_of(events).result.finish_reason == "length"


def test_inband_error_before_any_text_raises_the_mapped_class() -> None:
    acc = accumulator()
    assert acc.feed(json.dumps({"response": ""})) == []
    with pytest.raises(RateLimitError) as info:
        acc.feed(json.dumps({"errors": [{"code": 3040, "message": "Capacity exceeded"}]}))
    assert info.value.code == 3040
    assert info.value.retryable


def test_inband_error_after_text_raises_interrupted_with_the_text() -> None:
    acc = accumulator()
    acc.feed(json.dumps({"response": "partial "}))
    acc.feed(json.dumps({"response": "answer"}))
    with pytest.raises(StreamInterruptedError) as info:
        acc.feed(json.dumps({"errors": [{"code": 3040, "message": "Capacity exceeded"}]}))
    assert info.value.text == "partial answer"
    assert info.value.code == 3040
    assert "Capacity exceeded" in str(info.value)


def test_missing_done_raises_interrupted_with_the_text_so_far() -> None:
    acc = accumulator()
    acc.feed(json.dumps({"response": "Hello"}))
    with pytest.raises(StreamInterruptedError, match="before \\[DONE\\]") as info:
        acc.finish(request_id="rid")
    assert info.value.text == "Hello"
    assert info.value.request_id == "rid"


def test_held_back_text_is_kept_in_the_interrupted_error() -> None:
    acc = accumulator(tools=[WEATHER])
    assert acc.feed(json.dumps({"response": '{"name": "get_wea'})) == []
    with pytest.raises(StreamInterruptedError) as info:
        acc.finish()
    assert info.value.text == '{"name": "get_wea'


@pytest.mark.parametrize("payload", ["{not json", "[1, 2]", '"text"', '{"choices": {"a": 1}}'])
def test_malformed_event_raises_interrupted_naming_it(payload: str) -> None:
    acc = accumulator()
    acc.feed(json.dumps({"response": "ok"}))
    with pytest.raises(StreamInterruptedError) as info:
        acc.feed(payload)
    assert payload[:5] in str(info.value)
    assert info.value.text == "ok"


def test_events_after_done_are_ignored() -> None:
    acc = accumulator()
    acc.feed("[DONE]")
    assert acc.feed(json.dumps({"response": "late"})) == []


@pytest.mark.parametrize(
    ("pieces", "stop", "text"),
    [
        (["Hello EN", "D world"], ["END"], "Hello "),
        (["a", "b", "c", "STO", "P", "tail"], ["STOP"], "abc"),
        (["one two"], ["two", "one t"], ""),
        (["no stop here"], ["zzz"], "no stop here"),
        (["ends with partial S", "T"], ["STOP"], "ends with partial ST"),
        (["PO", "O"], ["O", "POO"], ""),
        (["x\n", "y more"], ["\n", "x\ny"], ""),
        (["x\n", "z more"], ["\n", "x\ny"], "x"),
    ],
)
def test_stop_sequences_split_across_deltas(pieces: list[str], stop: list[str], text: str) -> None:
    events = run([*({"response": p} for p in pieces), {"usage": USAGE}, "[DONE]"], stop=stop)
    assert text_of(events) == text
    result = end_of(events).result
    assert result.text == text
    assert result.finish_reason == "stop"
    assert usage_events(events) == [UsageEvent(Usage(4, 6, 10))]


def test_stop_ends_the_reply_even_without_done() -> None:
    acc = accumulator(stop=["END"])
    acc.feed(json.dumps({"response": "abc END"}))
    assert end_of(acc.finish()).result.text == "abc "


# -- the same, end to end through the client ---------------------------------------------


async def test_stream_text_matches_the_call_and_ends_with_usage(
    emulator: Emulator, driver: Driver
) -> None:
    request = ChatRequest(messages=[UserMessage("Tell me about streams")])
    events = await driver.stream(request)
    called = await driver.chat(request)
    assert text_of(events) == called.text == "You said: Tell me about streams"
    assert [type(e) for e in events[-2:]] == [UsageEvent, StreamEnd]
    assert len(usage_events(events)) == 1
    assert end_of(events).result.usage == called.usage
    assert end_of(events).result.request_id


@pytest.mark.parametrize("shape", ["flat", "openai_delta"])
@pytest.mark.parametrize("noise", [True, False])
async def test_streamed_tool_calls_in_the_emulator_shapes(
    emulator: Emulator, driver: Driver, shape: str, noise: bool
) -> None:
    emulator.configure(stream_tool_call_shape=shape, empty_tool_calls_noise=noise)
    events = await driver.stream(
        ChatRequest(messages=[UserMessage("get_weather for Paris")], tools=[WEATHER])
    )
    assert_call(events, "get_weather", {"city": "Paris"})


@pytest.mark.parametrize("stop", [[], ["END"]], ids=["direct", "stop-filtered"])
async def test_snapshots_are_the_running_text_and_the_results_own_string(
    emulator: Emulator, driver: Driver, stop: list[str]
) -> None:
    emulator.script(chunks=["Hel", "lo E", "N", "D more"])
    events = await driver.stream(
        ChatRequest(messages=[UserMessage("x")], stop=stop), snapshots=True
    )
    deltas = [e for e in events if isinstance(e, TextDelta)]
    so_far = ""
    for delta in deltas:
        so_far += delta.text
        assert delta.snapshot == so_far
    assert end_of(events).result.text is deltas[-1].snapshot
    assert so_far == ("Hello " if stop else "Hello END more")


async def test_no_snapshots_unless_asked(emulator: Emulator, driver: Driver) -> None:
    emulator.script(chunks=["a", "b"])
    events = await driver.stream(ChatRequest(messages=[UserMessage("x")]))
    assert [e for e in events if isinstance(e, TextDelta)] == [TextDelta("a"), TextDelta("b")]


@pytest.mark.parametrize("snapshots", [True, False])
async def test_a_json_answer_to_a_stream_has_snapshots_as_asked(
    emulator: Emulator, driver: Driver, snapshots: bool
) -> None:
    emulator.script(raw_body=json.dumps({"result": {"response": "whole"}, "success": True}))
    events = await driver.stream(ChatRequest(messages=[UserMessage("x")]), snapshots=snapshots)
    assert events[0] == TextDelta("whole", "whole" if snapshots else None)
    assert end_of(events).result.text == "whole"


async def test_streamed_stop_sequence_across_deltas(emulator: Emulator, driver: Driver) -> None:
    emulator.script(chunks=["Hel", "lo E", "N", "D more text"])
    events = await driver.stream(ChatRequest(messages=[UserMessage("x")], stop=["END"]))
    assert text_of(events) == "Hello "
    assert end_of(events).result.finish_reason == "stop"
    assert len(usage_events(events)) == 1


async def test_call_with_stop_sequence(emulator: Emulator, driver: Driver) -> None:
    emulator.script(text="first\nsecond")
    result = await driver.chat(ChatRequest(messages=[UserMessage("x")], stop=["\n"]))
    assert result.text == "first"


async def test_inband_error_at_start_raises_its_class(emulator: Emulator, driver: Driver) -> None:
    emulator.fault(Fault(kind=FaultKind.inband_error, after_events=0))
    events, error = await driver.stream_until_error(ChatRequest(messages=[UserMessage("x")]))
    assert events == []
    assert isinstance(error, RateLimitError)
    assert error.code == 3040


async def test_inband_error_after_text_raises_interrupted_with_text(
    emulator: Emulator, driver: Driver
) -> None:
    emulator.fault(Fault(kind=FaultKind.inband_error, after_events=2))
    events, error = await driver.stream_until_error(
        ChatRequest(messages=[UserMessage("alpha beta gamma")])
    )
    assert isinstance(error, StreamInterruptedError)
    assert error.text == text_of(events) == "You said"
    assert error.code == 3040


@pytest.mark.parametrize("clean_close", [True, False])
async def test_truncated_stream_raises_interrupted_with_text(
    emulator: Emulator, driver: Driver, clean_close: bool
) -> None:
    emulator.fault(Fault(kind=FaultKind.truncated_stream, after_events=3, clean_close=clean_close))
    events, error = await driver.stream_until_error(
        ChatRequest(messages=[UserMessage("alpha beta gamma")])
    )
    assert isinstance(error, StreamInterruptedError)
    assert error.text == text_of(events) == "You said:"
    assert not any(isinstance(e, StreamEnd) for e in events)


async def test_malformed_sse_line_raises_interrupted(emulator: Emulator, driver: Driver) -> None:
    emulator.fault(Fault(kind=FaultKind.malformed_sse, after_events=1))
    events, error = await driver.stream_until_error(ChatRequest(messages=[UserMessage("a b")]))
    assert isinstance(error, StreamInterruptedError)
    assert "malformed" in str(error)
    assert error.text == text_of(events)


async def test_json_reply_to_a_stream_request_becomes_events(
    emulator: Emulator, driver: Driver
) -> None:
    body = {"result": {"response": "whole", "usage": USAGE}, "success": True}
    emulator.script(raw_body=json.dumps(body), content_type="application/json")
    events = await driver.stream(ChatRequest(messages=[UserMessage("x")]))
    assert [type(e) for e in events] == [TextDelta, UsageEvent, StreamEnd]
    assert end_of(events).result.text == "whole"


async def test_json_tool_reply_to_a_stream_request_becomes_events(
    emulator: Emulator, driver: Driver
) -> None:
    body = {"result": {"response": "", "tool_calls": [{"name": "get_weather", "arguments": {}}]}}
    emulator.script(raw_body=json.dumps(body), content_type="application/json")
    events = await driver.stream(ChatRequest(messages=[UserMessage("x")], tools=[WEATHER]))
    assert_call(events, "get_weather", {})


def test_single_tool_call_object_and_junk_items_in_an_event() -> None:
    events = run(
        [
            {"tool_calls": {"name": "get_weather", "arguments": {"city": "A"}}},
            {"tool_calls": ["junk", 3]},
            {"tool_calls": [{"index": 1, "function": {"name": "get_weather", "arguments": {}}}]},
            "[DONE]",
        ],
        tools=[WEATHER],
    )
    calls = end_of(events).result.tool_calls
    assert [dict(c.arguments) for c in calls] == [{"city": "A"}, {}]


async def test_stream_without_the_final_blank_line_still_completes(
    emulator: Emulator, driver: Driver
) -> None:
    # A proxy may drop the blank line after the last event.
    emulator.script(raw_sse='data: {"response":"hi"}\n\ndata: [DONE]')
    events = await driver.stream(ChatRequest(messages=[UserMessage("x")]))
    assert end_of(events).result.text == "hi"


@pytest.mark.parametrize("index", [[], "0", 1.5, True, {"i": 0}])
def test_a_tool_call_delta_whose_index_is_not_an_integer_is_a_typed_error(index: Any) -> None:
    # Found by the fuzz test: a list index made the accumulator raise a bare TypeError.
    payload = {"tool_calls": [{"index": index, "function": {"name": "f", "arguments": "{}"}}]}
    with pytest.raises(StreamInterruptedError, match="'index' is not an integer"):
        run([payload])
