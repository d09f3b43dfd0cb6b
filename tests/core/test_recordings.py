"""Every recorded Workers AI response is read by the client, and the emulator answers in the
same shapes (same keys, same event sequence).

The recordings are verbatim copies of ``workers-ai/recordings`` (see ``recordings/SOURCES.md``).
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from cf_mistral import (
    AuthenticationError,
    BadRequestError,
    ChatRequest,
    QuotaExceededError,
    RateLimitError,
    ResponseParseError,
    SSEDecoder,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolDefinition,
    Usage,
    UsageEvent,
    UserMessage,
)
from cf_mistral._request import prepare_call
from cf_mistral._status import error_from_response
from cf_mistral._stream import StreamAccumulator
from cf_mistral.emulator import Emulator, Fault, FaultKind

from .helpers import RECORDINGS, Driver

SSE_FILES = sorted(p.name for p in RECORDINGS.glob("*.sse"))
HELLO = ChatRequest(messages=[UserMessage("hello there")])


def load(name: str) -> Any:
    return json.loads((RECORDINGS / name).read_text())


def test_every_recording_is_covered_here() -> None:
    covered = {
        *SSE_FILES,
        *(name for name, *_ in ERRORS),
        "docs-example-run-response-llama-3.1-8b.json",
        "docs-example-json-mode-response-object.json",
        "docs-example-json-mode-request.json",
        "docs-example-traditional-tool_calls.json",
        "docs-example-batch-queued-rest.json",
        "docs-example-batch-result-rest.json",
        "binding-error-body-internalCode-mock.json",
        "observed-binding-usage-cached-tokens-issue-509.json",
    }
    on_disk = {p.name for p in RECORDINGS.iterdir() if p.name != "SOURCES.md"}
    assert on_disk == covered


# -- JSON replies --------------------------------------------------------------------------


async def test_docs_run_response_is_read(emulator: Emulator, driver: Driver) -> None:
    recording = load("docs-example-run-response-llama-3.1-8b.json")
    emulator.script(raw_body=json.dumps(recording))
    result = await driver.chat(HELLO)
    assert result.text == recording["result"]["response"]
    assert result.usage is None
    assert result.finish_reason == "stop"
    assert result.raw == recording


async def test_observed_cached_tokens_are_read_and_priced(
    emulator: Emulator, driver: Driver
) -> None:
    recording = load("observed-binding-usage-cached-tokens-issue-509.json")
    emulator.script(raw_body=json.dumps(recording))
    result = await driver.chat(HELLO)
    assert result.usage == Usage(6377, 349, 6726, cached_tokens=2861)
    assert result.usage.extra == {"prompt_tokens_details": {"cached_tokens": 2861}}
    # No cached price is published for this model: the cached part costs as input.
    assert result.cost_usd == pytest.approx((6377 * 0.35 + 349 * 0.56) / 1e6)


@pytest.mark.parametrize("schema", [None, {}])
async def test_json_mode_response_object_in_binding_shape_is_read(
    emulator: Emulator, driver: Driver, schema: dict[str, Any] | None
) -> None:
    recording = load("docs-example-json-mode-response-object.json")
    emulator.script(raw_body=json.dumps(recording))
    result = await driver.chat(ChatRequest(messages=[UserMessage("India")], response_schema=schema))
    assert json.loads(result.text) == recording["response"]


async def test_json_mode_request_translates_to_guided_json(
    emulator: Emulator, driver: Driver
) -> None:
    recording = load("docs-example-json-mode-request.json")
    messages = [UserMessage(m["content"]) for m in recording["messages"] if m["role"] == "user"]
    schema = recording["response_format"]["json_schema"]
    result = await driver.chat(ChatRequest(messages=messages, response_schema=schema))
    body = emulator.last_request.body  # type: ignore[union-attr]
    assert body["guided_json"] == schema
    assert "response_format" not in body
    assert set(json.loads(result.text)) >= {"name", "capital", "languages"}


@pytest.mark.parametrize("arguments_as_text", [False, True])
async def test_traditional_tool_calls_are_read(
    emulator: Emulator, driver: Driver, arguments_as_text: bool
) -> None:
    calls = load("docs-example-traditional-tool_calls.json")
    if arguments_as_text:
        calls = [{**c, "arguments": json.dumps(c["arguments"])} for c in calls]
    emulator.script(raw_result={"response": None, "tool_calls": calls})
    tool = ToolDefinition(
        "getWeather",
        "Weather at a position",
        {
            "type": "object",
            "properties": {
                "latitude": {"type": "string", "description": "lat"},
                "longitude": {"type": "string", "description": "lon"},
            },
        },
    )
    result = await driver.chat(ChatRequest(messages=[UserMessage("London")], tools=[tool]))
    [call] = result.tool_calls
    assert call.name == "getWeather"
    assert call.arguments == {"latitude": "51.5074", "longitude": "-0.1278"}
    assert result.finish_reason == "tool_calls"


@pytest.mark.parametrize(
    "name", ["docs-example-batch-queued-rest.json", "docs-example-batch-result-rest.json"]
)
async def test_batch_replies_are_refused_naming_what_was_found(
    emulator: Emulator, driver: Driver, name: str
) -> None:
    # This model has no async batch (WIRE-FORMAT §9): such a reply is not silently read as "".
    emulator.script(raw_body=(RECORDINGS / name).read_text())
    with pytest.raises(ResponseParseError, match="neither 'response'") as info:
        await driver.chat(HELLO)
    assert info.value.request_id


# -- error bodies ----------------------------------------------------------------------------

ERRORS = [
    ("error-10000-authentication-http401.json", 401, AuthenticationError, 10000),
    ("error-3040-capacity-test-data.json", 429, RateLimitError, 3040),
    ("error-4006-daily-free-allocation.json", 429, QuotaExceededError, 4006),
    ("error-5006-additional-properties-flux.json", 400, BadRequestError, 5006),
    ("error-5006-bad-input-oneof-content-type.json", 400, BadRequestError, 5006),
]


@pytest.mark.parametrize(("name", "status", "cls", "code"), ERRORS)
async def test_recorded_error_bodies_raise_their_class(
    emulator: Emulator, driver: Driver, name: str, status: int, cls: type, code: int
) -> None:
    recording = load(name)
    emulator.script(raw_body=json.dumps(recording), status=status)
    with pytest.raises(cls) as info:
        await driver.chat(HELLO)
    error = info.value
    assert error.status_code == status
    assert error.code == code
    assert error.request_id
    assert recording["errors"][0]["message"] in error.message
    assert not isinstance(error, RateLimitError) or error.retryable


@pytest.mark.parametrize(("name", "status", "cls", "code"), ERRORS)
async def test_recorded_error_bodies_raise_from_a_stream_request(
    emulator: Emulator, driver: Driver, name: str, status: int, cls: type, code: int
) -> None:
    emulator.script(raw_body=(RECORDINGS / name).read_text(), status=status)
    with pytest.raises(cls):
        await driver.stream(HELLO)


def test_binding_internal_error_body_gives_its_message() -> None:
    raw = (RECORDINGS / "binding-error-body-internalCode-mock.json").read_bytes()
    error = error_from_response(400, {"content-type": "application/json"}, raw)
    assert isinstance(error, BadRequestError)
    assert "prompt and messages are mutually exclusive" in str(error)


# -- streams -------------------------------------------------------------------------------


def expected_stream(name: str) -> tuple[str, Usage]:
    events = [
        json.loads(line[len("data: ") :])
        for line in (RECORDINGS / name).read_text().splitlines()
        if line.startswith("data: {")
    ]
    text = "".join(e.get("response", "") for e in events)
    usage = events[-1]["usage"]
    return text, Usage(usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"])


def check_events(events: list[StreamEvent], name: str) -> None:
    text, usage = expected_stream(name)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == text
    assert [e for e in events if isinstance(e, UsageEvent)] == [UsageEvent(usage)]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.result.text == text
    assert end.result.usage == usage
    assert end.result.finish_reason == "stop"


@pytest.mark.parametrize("name", SSE_FILES)
async def test_recorded_streams_replayed_by_the_emulator(
    emulator: Emulator, driver: Driver, name: str
) -> None:
    emulator.script(raw_sse=(RECORDINGS / name).read_text())
    check_events(await driver.stream(HELLO), name)


@pytest.mark.parametrize("name", SSE_FILES)
@pytest.mark.parametrize("size", [1, 2, 7, 64, None], ids=lambda s: f"chunk{s or 'whole'}")
@pytest.mark.parametrize("tools", [False, True], ids=["no-tools", "tools"])
def test_recorded_streams_through_the_decoder_at_every_chunk_size(
    name: str, size: int | None, tools: bool
) -> None:
    raw = (RECORDINGS / name).read_bytes()
    request = ChatRequest(
        messages=[UserMessage("x")], tools=[ToolDefinition("get_weather")] if tools else ()
    )
    decoder = SSEDecoder()
    accumulator = StreamAccumulator(prepare_call(request, stream=True), model="m")
    events: list[StreamEvent] = []
    chunks = [raw] if size is None else [raw[i : i + size] for i in range(0, len(raw), size)]
    for chunk in chunks:
        for payload in decoder.feed(chunk):
            events += accumulator.feed(payload)
    for payload in decoder.flush():
        events += accumulator.feed(payload)
    events += accumulator.finish()
    check_events(events, name)


# -- the emulator reproduces the recorded shapes -------------------------------------------


def sse_events(raw: str) -> list[Any]:
    out: list[Any] = []
    for line in raw.splitlines():
        if line.startswith("data: "):
            payload = line[len("data: ") :]
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


def kinds(events: list[Any]) -> list[str]:
    """The event sequence with runs collapsed: text events, the usage event, [DONE]."""
    out: list[str] = []
    for event in events:
        kind = "done" if event == "[DONE]" else "usage" if "usage" in event else "text"
        if not out or out[-1] != kind:
            out.append(kind)
    return out


@pytest.mark.parametrize(
    ("name", "noise"),
    [
        ("sse-native-legacy-text-secton-proxy.sse", False),
        ("sse-native-llama-3.3-70b-text-with-empty-tool_calls.sse", True),
    ],
)
def test_emulator_stream_has_the_recorded_keys_and_sequence(
    emulator: Emulator, name: str, noise: bool
) -> None:
    emulator.configure(empty_tool_calls_noise=noise)
    recorded = sse_events((RECORDINGS / name).read_text())
    with httpx.Client(headers=emulator.headers, timeout=10) as http:
        reply = http.post(
            emulator.run_url(),
            json={
                "messages": [{"role": "user", "content": "hi"}],
                "max_tokens": 64,
                "stream": True,
            },
        )
    assert reply.headers["content-type"].startswith("text/event-stream")
    ours = sse_events(reply.text)
    assert kinds(ours) == kinds(recorded) == ["text", "usage", "done"]
    recorded_text_keys = {frozenset(e) for e in recorded[:-2]}
    assert {frozenset(e) for e in ours[:-2]} <= recorded_text_keys
    assert set(ours[-2]) == set(recorded[-2]) == {"response", "usage"}
    assert set(ours[-2]["usage"]) == set(recorded[-2]["usage"])
    for event in ours[:-2]:
        if "p" in event:
            assert re.fullmatch(r"[a-z0-9]{1,50}", event["p"])


def test_emulator_reply_has_the_recorded_envelope(emulator: Emulator) -> None:
    recorded = load("docs-example-run-response-llama-3.1-8b.json")
    with httpx.Client(headers=emulator.headers, timeout=10) as http:
        reply = http.post(
            emulator.run_url(),
            json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 64},
        ).json()
    assert set(reply) == set(recorded)
    assert set(recorded["result"]) <= set(reply["result"])
    assert {k: reply[k] for k in ("success", "errors", "messages")} == {
        k: recorded[k] for k in ("success", "errors", "messages")
    }


@pytest.mark.parametrize(
    ("fault", "name"),
    [
        (FaultKind.auth, "error-10000-authentication-http401.json"),
        (FaultKind.capacity, "error-3040-capacity-test-data.json"),
        (FaultKind.quota, "error-4006-daily-free-allocation.json"),
        (FaultKind.bad_request, "error-5006-bad-input-oneof-content-type.json"),
    ],
)
def test_emulator_error_bodies_have_the_recorded_keys(
    emulator: Emulator, fault: FaultKind, name: str
) -> None:
    recorded = load(name)
    emulator.fault(Fault(kind=fault))
    with httpx.Client(headers=emulator.headers, timeout=10) as http:
        reply = http.post(
            emulator.run_url(),
            json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 64},
        )
    ours = reply.json()
    assert set(ours) == set(recorded)
    assert set(ours["errors"][0]) == set(recorded["errors"][0])
    assert ours["errors"][0]["code"] == recorded["errors"][0]["code"]
    uuid = r"\([0-9a-f-]{36}\)$"
    assert bool(re.search(uuid, ours["errors"][0]["message"])) == bool(
        re.search(uuid, recorded["errors"][0]["message"])
    )
