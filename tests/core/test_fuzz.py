"""Property tests: any split of a valid stream gives the same events, and arbitrary input lets
only cf_mistral's own errors escape (SSE decoder, stream accumulator, reply and error parsers,
tool-argument parsing)."""

from __future__ import annotations

import json
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cf_mistral import (
    APIStatusError,
    ChatRequest,
    ChatResult,
    InvalidToolCall,
    SSEDecoder,
    ToolCall,
    ToolDefinition,
    UserMessage,
    WorkersAIError,
    to_mistral_tool_call_id,
)
from cf_mistral._request import prepare_call
from cf_mistral._response import parse_reply
from cf_mistral._status import error_from_response, parse_retry_after
from cf_mistral._stop import StopFilter, truncate_at_stop
from cf_mistral._stream import StreamAccumulator
from cf_mistral._tool_calls import assemble_tool_call, salvage_leaked_tool_calls

# Modest and derandomized: the same examples on every run, a few seconds in all. Applied per
# test, not as a global profile, so other suites keep their own settings.
fuzz = settings(
    max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "response",
        "tool_calls",
        "usage",
        "choices",
        "errors",
        "error",
        "result",
        "success",
        "p",
        "finish_reason",
        "name",
        "arguments",
        "function",
        "index",
        "id",
        "delta",
        "message",
        "content",
        "parameters",
        "prompt_tokens",
        "completion_tokens",
        "code",
    ]
)
# JSON shaped like Workers AI replies and events: known keys with arbitrary values.
SHAPED = st.recursive(
    JSON,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(KEYS, children, max_size=5),
    max_leaves=25,
)
LINE_TEXT = st.text(
    alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=30
)
WEATHER = ToolDefinition("get_weather", "Weather")
TIME = ToolDefinition("get_time", "Time")
REQUESTS = [
    ChatRequest(messages=[UserMessage("q")]),
    ChatRequest(messages=[UserMessage("q")], tools=[WEATHER], stop=["END"]),
    ChatRequest(messages=[UserMessage("q")], tools=[WEATHER], tool_choice="required"),
    ChatRequest(messages=[UserMessage("q")], tools=[WEATHER, TIME], tool_choice="any"),
    ChatRequest(messages=[UserMessage("q")], response_schema={}, params={"max_tokens": 3}),
]


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def decode(chunks: list[bytes]) -> list[str]:
    decoder = SSEDecoder()
    return [e for chunk in chunks for e in decoder.feed(chunk)] + decoder.flush()


@st.composite
def sse_streams(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    """A valid stream in any of the line-ending and spacing variants, and its payloads."""
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    out: list[str] = []
    expected: list[str] = []
    for lines in draw(st.lists(st.lists(LINE_TEXT, min_size=1, max_size=3), max_size=6)):
        if draw(st.booleans()):
            out.append(": comment" + eol)
        values = []
        for line in lines:
            space = draw(st.sampled_from(["", " "]))
            out.append(f"data:{space}{line}{eol}")
            values.append(line[1:] if not space and line.startswith(" ") else line)
        out.append(eol)
        expected.append("\n".join(values))
    done = draw(st.sampled_from(["data: [DONE]", "data:[DONE]", "[DONE]"]))
    out.append(done + eol + eol)
    expected.append("[DONE]")
    return "".join(out).encode("utf-8"), expected


@fuzz
@given(sse_streams(), st.lists(st.integers(min_value=0), max_size=12))
def test_any_split_of_a_valid_stream_gives_the_same_events(
    stream: tuple[bytes, list[str]], cuts: list[int]
) -> None:
    data, expected = stream
    assert decode([data]) == expected
    assert decode(split(data, cuts)) == expected


@fuzz
@given(st.binary(max_size=400), st.lists(st.integers(min_value=0), max_size=8))
def test_arbitrary_bytes_give_the_same_events_for_any_split(data: bytes, cuts: list[int]) -> None:
    assert decode(split(data, cuts)) == decode([data])


def run_stream(request: ChatRequest, payloads: list[str]) -> None:
    accumulator = StreamAccumulator(prepare_call(request, stream=True), model="m")
    try:
        for payload in payloads:
            accumulator.feed(payload)
        accumulator.finish()
    except WorkersAIError:
        pass


@fuzz
@given(
    st.binary(max_size=300),
    st.lists(st.integers(min_value=0), max_size=6),
    st.sampled_from(REQUESTS),
)
def test_arbitrary_bytes_let_only_our_errors_escape_the_stream(
    data: bytes, cuts: list[int], request: ChatRequest
) -> None:
    try:
        payloads = decode(split(data, cuts))
    except WorkersAIError:
        return
    run_stream(request, payloads)


@fuzz
@given(
    st.lists(SHAPED.map(json.dumps) | st.just("[DONE]") | LINE_TEXT, max_size=8),
    st.sampled_from(REQUESTS),
)
def test_arbitrary_events_let_only_our_errors_escape_the_stream(
    payloads: list[str], request: ChatRequest
) -> None:
    run_stream(request, payloads)


@fuzz
@given(SHAPED, st.sampled_from(REQUESTS), st.booleans())
def test_arbitrary_replies_let_only_our_errors_escape_the_parser(
    body: Any, request: ChatRequest, wrap: bool
) -> None:
    call = prepare_call(request, stream=False)
    try:
        result = parse_reply({"result": body} if wrap else body, call, model="m", request_id=None)
    except WorkersAIError:
        return
    assert isinstance(result, ChatResult)
    for tool_call in result.tool_calls:
        assert re.fullmatch(r"[A-Za-z0-9]{9}", tool_call.id)


@fuzz
@given(st.integers(min_value=100, max_value=599), st.binary(max_size=300), st.text(max_size=20))
def test_arbitrary_error_bodies_always_give_an_error(
    status: int, content: bytes, content_type: str
) -> None:
    error = error_from_response(status, {"content-type": content_type}, content)
    assert isinstance(error, APIStatusError)
    assert error.message
    assert error.status_code == status


@fuzz
@given(SHAPED, st.integers(min_value=400, max_value=599))
def test_arbitrary_json_error_bodies_always_give_an_error(body: Any, status: int) -> None:
    error = error_from_response(status, {}, json.dumps(body).encode())
    assert isinstance(error, APIStatusError)
    assert error.message


@fuzz
@given(st.dictionaries(st.sampled_from(["retry-after", "retry-after-ms"]), st.text(max_size=40)))
def test_arbitrary_retry_after_headers_give_seconds_or_none(headers: dict[str, str]) -> None:
    seconds = parse_retry_after(headers)
    assert seconds is None or seconds >= 0


@fuzz
@given(
    st.none() | st.text(max_size=20),
    st.none() | st.sampled_from(["get_weather", "other", ""]),
    SHAPED | JSON.map(json.dumps) | st.text(max_size=40),
)
def test_tool_arguments_of_any_kind_give_a_call_or_an_invalid_call(
    call_id: str | None, name: str | None, arguments: Any
) -> None:
    call = assemble_tool_call(
        call_id, name, arguments, declared=frozenset({"get_weather"}), taken_ids=set()
    )
    assert isinstance(call, (ToolCall, InvalidToolCall))
    assert re.fullmatch(r"[A-Za-z0-9]{9}", call.id)
    if isinstance(call, InvalidToolCall):
        assert call.error


@fuzz
@given(
    st.text(max_size=80)
    | SHAPED.map(json.dumps)
    | SHAPED.map(lambda v: "[TOOL_CALLS]" + json.dumps(v))
)
def test_leak_salvage_never_raises(text: str) -> None:
    calls = salvage_leaked_tool_calls(text, {"get_weather"})
    assert calls is None or all(name == "get_weather" for name, _ in calls)


@fuzz
@given(st.text(max_size=40))
def test_any_tool_id_maps_to_nine_base62_characters(tool_call_id: str) -> None:
    mapped = to_mistral_tool_call_id(tool_call_id)
    assert re.fullmatch(r"[A-Za-z0-9]{9}", mapped)
    assert to_mistral_tool_call_id(mapped) == mapped


@fuzz
@given(
    st.text(alphabet="abST OP", max_size=40),
    st.lists(st.text(alphabet="abSTOP", min_size=1, max_size=4), min_size=1, max_size=3),
    st.lists(st.integers(min_value=0), max_size=10),
)
def test_stop_filter_matches_truncation_for_any_split(
    text: str, stops: list[str], cuts: list[int]
) -> None:
    stop_filter = StopFilter(stops)
    pieces = split(text.encode(), cuts)
    emitted = "".join(stop_filter.push(piece.decode()) for piece in pieces)
    if not stop_filter.stopped:
        emitted += stop_filter.flush()
    assert (emitted, stop_filter.stopped) == truncate_at_stop(text, stops)
