"""Arbitrary replies, tool calls and streams: only cf-mistral's own errors ever escape.

Hypothesis feeds arbitrary JSON to the reply parser and the stream accumulator (for four
kinds of call: plain, tools bound, a forced tool call, a JSON-schema reply), arbitrary
arguments to the tool-call assembly, and arbitrary bytes as a whole SSE body through the real
client and the emulator. The SSE decoder's split invariance is pinned in tests/core. Examples
are derandomized, so every run tries the same inputs.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cf_mistral import (
    ChatRequest,
    ChatResult,
    InvalidToolCall,
    StreamEnd,
    ToolCall,
    ToolDefinition,
    UserMessage,
    WorkersAIClient,
    WorkersAIError,
)
from cf_mistral._request import PreparedCall, prepare_call
from cf_mistral._response import parse_reply
from cf_mistral._sse import SSEDecoder
from cf_mistral._stream import StreamAccumulator
from cf_mistral._tool_calls import (
    assemble_tool_call,
    read_wire_tool_call,
    salvage_leaked_tool_calls,
)
from cf_mistral.emulator import Emulator

MODEL = "@cf/mistralai/mistral-small-3.1-24b-instruct"
TOOLS = [
    ToolDefinition(
        "get_weather",
        "Weather of a city",
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    ),
    ToolDefinition("get_time", "Time in a zone", {"type": "object", "properties": {}}),
]
CALLS: dict[str, PreparedCall] = {
    "plain": prepare_call(ChatRequest([UserMessage("hi")]), stream=False),
    "tools": prepare_call(ChatRequest([UserMessage("hi")], tools=TOOLS), stream=True),
    "forced": prepare_call(
        ChatRequest([UserMessage("hi")], tools=TOOLS, tool_choice="get_weather"), stream=False
    ),
    "forced-any": prepare_call(
        ChatRequest([UserMessage("hi")], tools=TOOLS, tool_choice="required"), stream=True
    ),
    "json": prepare_call(
        ChatRequest([UserMessage("hi")], response_schema={"type": "object"}), stream=False
    ),
}
FUZZ = settings(
    max_examples=250,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
# Objects shaped like the replies we know, with arbitrary values where the fields go.
known_keys = st.sampled_from(
    ["response", "tool_calls", "usage", "result", "success", "errors", "choices", "delta",
     "message", "content", "function", "name", "arguments", "parameters", "id", "index",
     "finish_reason", "prompt_tokens", "completion_tokens", "total_tokens", "p"]
)  # fmt: skip
shaped = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(known_keys, inner, max_size=5),
    max_leaves=25,
)
# Usage objects: json.loads reads Infinity and NaN, so the server's counters can be anything.
usage_bodies = st.fixed_dictionaries(
    {
        "response": scalars,
        "usage": st.dictionaries(
            st.sampled_from(["prompt_tokens", "completion_tokens", "total_tokens"]), scalars
        ),
    }
)
any_json = json_values | shaped | usage_bodies | st.fixed_dictionaries({"result": usage_bodies})
examples_run: dict[str, int] = {}


def _count(name: str) -> None:
    examples_run[name] = examples_run.get(name, 0) + 1


@FUZZ
@given(body=any_json, kind=st.sampled_from(sorted(CALLS)))
def test_reply_parser_raises_only_its_own_errors(body: Any, kind: str) -> None:
    _count("reply")
    try:
        result = parse_reply(body, CALLS[kind], model=MODEL, request_id=None)
    except WorkersAIError:
        return
    assert isinstance(result, ChatResult)
    assert isinstance(result.text, str)
    for call in result.tool_calls:
        assert isinstance(call.arguments, dict)


@FUZZ
@given(
    item=any_json,
    arguments=any_json | st.text(max_size=40),
    name=st.none() | st.text(max_size=12) | st.sampled_from(["get_weather", "get_time"]),
)
def test_tool_call_parsing_never_raises_and_never_invents_arguments(
    item: Any, arguments: Any, name: str | None
) -> None:
    _count("tool-args")
    read_wire_tool_call(item)
    call = assemble_tool_call(
        None, name, arguments, declared=frozenset({"get_weather", "get_time"}), taken_ids=set()
    )
    if isinstance(call, ToolCall):
        assert name in {"get_weather", "get_time"}
        parsed = json.loads(arguments) if isinstance(arguments, str) and arguments else arguments
        assert call.arguments == (parsed or {})
    else:
        assert isinstance(call, InvalidToolCall)
        assert call.error
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    salvage_leaked_tool_calls(text, ["get_weather", "get_time"])
    salvage_leaked_tool_calls("[TOOL_CALLS]" + text, ["get_weather"])


@FUZZ
@given(
    payloads=st.lists(any_json.map(json.dumps) | st.text(max_size=20), max_size=8),
    done=st.booleans(),
    kind=st.sampled_from(sorted(CALLS)),
)
def test_stream_accumulator_raises_only_its_own_errors(
    payloads: list[str], done: bool, kind: str
) -> None:
    _count("stream")
    accumulator = StreamAccumulator(CALLS[kind], model=MODEL)
    try:
        for payload in payloads:
            accumulator.feed(payload)
        if done:
            accumulator.feed("[DONE]")
        events = accumulator.finish()
    except WorkersAIError:
        return
    assert isinstance(events[-1], StreamEnd)
    assert events[-1].result.text == accumulator.text


@FUZZ
@given(chunks=st.lists(st.binary(max_size=64), max_size=8))
def test_sse_decoder_raises_nothing_on_arbitrary_bytes(chunks: list[bytes]) -> None:
    _count("sse-bytes")
    decoder = SSEDecoder()
    for chunk in chunks:
        assert all(isinstance(p, str) for p in decoder.feed(chunk))
    decoder.flush()


sse_bodies = st.lists(
    st.binary(max_size=40)
    | any_json.map(lambda v: f"data: {json.dumps(v)}\n\n".encode())
    | st.sampled_from([b"data: [DONE]\n\n", b": keep-alive\n\n", b"data: {\n\n", b"\r\n"]),
    max_size=6,
).map(b"".join)


def test_full_client_stream_of_arbitrary_sse_bytes_raises_only_its_own_errors() -> None:
    # A real round trip per example, so fewer examples; each bounded by the idle timeout.
    with (
        Emulator() as server,
        WorkersAIClient(
            account_id=server.account_id,
            api_token=server.token,
            base_url=server.base_url,
            max_retries=0,
            timeout={"read": 5, "stream_idle": 2},
        ) as client,
    ):

        @settings(max_examples=60, derandomize=True, database=None, deadline=None)
        @given(body=sse_bodies, tools=st.booleans())
        def one(body: bytes, tools: bool) -> None:
            _count("client-sse")
            server.script(raw_sse=body)
            request = ChatRequest([UserMessage("hi")], tools=TOOLS if tools else ())
            try:
                events = list(client.stream(request))
            except WorkersAIError:
                return
            assert isinstance(events[-1], StreamEnd)

        one()
        assert len(server.requests) >= 60
