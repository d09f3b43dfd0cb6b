"""Native stream shape, tool-call stream shapes, raw SSE replay, volume, pooling."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx
import pytest

from cf_mistral.emulator import Emulator, ScriptedReply

from .helpers import WEATHER_TOOL, chat, sse_data, sse_json

RECORDINGS = Path(__file__).parents[1] / "core" / "recordings"


def stream(emulator: Emulator, client: httpx.Client, body: dict[str, object]) -> httpx.Response:
    return client.post(emulator.run_url(), json={**body, "stream": True})


def test_stream_shape(emulator: Emulator, client: httpx.Client) -> None:
    r = stream(emulator, client, chat("Hello there"))
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/event-stream"
    assert r.headers.get("transfer-encoding") == "chunked"
    assert "cf-ai-req-id" in r.headers
    assert re.fullmatch(r"(data: [^\n]+\n\n)+", r.text)
    assert r.text.endswith("data: [DONE]\n\n")
    events = sse_json(r.text)
    texts = events[:-1]
    assert all(list(e) == ["response", "p"] for e in texts)
    assert all(re.fullmatch(r"[a-z0-9]{1,50}", e["p"]) for e in texts)
    assert "".join(e["response"] for e in texts) == "You said: Hello there"
    assert events[-1] == {
        "response": "",
        "usage": {"prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7},
    }


def test_stream_usage_matches_non_stream(emulator: Emulator, client: httpx.Client) -> None:
    body = chat("Some words, and punctuation!", max_tokens=50)
    usage = client.post(emulator.run_url(), json=body).json()["result"]["usage"]
    assert sse_json(stream(emulator, client, body).text)[-1]["usage"] == usage


def test_stream_switches(emulator: Emulator, client: httpx.Client) -> None:
    emulator.configure(empty_tool_calls_noise=True, stream_padding=False)
    events = sse_json(stream(emulator, client, chat("hi")).text)
    assert all(e == {"response": e["response"], "tool_calls": []} for e in events[:-1])


def test_stream_interval(emulator: Emulator, client: httpx.Client) -> None:
    emulator.configure(stream_interval=0.05)
    start = time.perf_counter()
    stream(emulator, client, chat("one two three"))  # 6 pieces + usage + done
    assert time.perf_counter() - start >= 0.3


def test_latency(emulator: Emulator, client: httpx.Client) -> None:
    emulator.configure(latency=0.2)
    start = time.perf_counter()
    client.post(emulator.run_url(), json=chat("x"))
    assert time.perf_counter() - start >= 0.2


def test_stream_tool_call_flat(emulator: Emulator, client: httpx.Client) -> None:
    r = stream(emulator, client, chat("Use get_weather for Paris, 2 days", tools=[WEATHER_TOOL]))
    events = sse_json(r.text)
    assert events[0] == {
        "response": "",
        "tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}],
    }
    assert list(events[1]) == ["response", "usage"]
    assert sse_data(r.text)[-1] == "[DONE]"


def test_stream_tool_call_openai_delta(emulator: Emulator, client: httpx.Client) -> None:
    emulator.configure(stream_tool_call_shape="openai_delta")
    r = stream(emulator, client, chat("Use get_weather for Paris, 2 days", tools=[WEATHER_TOOL]))
    events = sse_json(r.text)
    head = events[0]["tool_calls"][0]
    assert head["type"] == "function"
    assert head["index"] == 0
    assert head["function"] == {"name": "get_weather"}
    assert re.fullmatch(r"chatcmpl-tool-[0-9a-f]{32}", head["id"])
    args = "".join(e["tool_calls"][0]["function"]["arguments"] for e in events[1:3])
    assert json.loads(args) == {"city": "Paris", "days": 2}
    assert events[3] == {
        "tool_calls": [
            {"id": None, "type": None, "index": 0, "function": {"name": None, "arguments": ""}}
        ]
    }
    assert "usage" in events[4]


@pytest.mark.parametrize("name", sorted(p.name for p in RECORDINGS.glob("*.sse")))
def test_raw_sse_replays_recordings_byte_for_byte(
    emulator: Emulator, client: httpx.Client, name: str
) -> None:
    raw = (RECORDINGS / name).read_bytes()
    emulator.script(ScriptedReply(raw_sse=raw.decode()))
    r = stream(emulator, client, chat("x"))
    assert r.headers["content-type"] == "text/event-stream"
    assert r.content == raw


def test_shape_matches_recording_keys(emulator: Emulator, client: httpx.Client) -> None:
    rec = sse_json((RECORDINGS / "sse-native-legacy-text-secton-proxy.sse").read_text())
    ours = sse_json(stream(emulator, client, chat("hi")).text)
    assert set(ours[0]) == set(rec[0])
    assert set(ours[-1]) == set(rec[-1])
    assert set(ours[-1]["usage"]) == set(rec[-1]["usage"])


def test_scripted_chunks(emulator: Emulator, client: httpx.Client) -> None:
    emulator.script(chunks=["Hel", "lo", " world"])
    events = sse_json(stream(emulator, client, chat("x")).text)
    assert [e["response"] for e in events[:-1]] == ["Hel", "lo", " world"]
    assert events[-1]["usage"]["completion_tokens"] == 2


def test_two_thousand_event_stream(emulator: Emulator, client: httpx.Client) -> None:
    # Its speed is measured by `make bench` (emulator capacity), not asserted here.
    emulator.script(chunks=[f"w{i} " for i in range(2000)])
    r = stream(emulator, client, chat("x"))
    assert len(sse_data(r.text)) == 2002


def test_hundred_thousand_tokens(emulator: Emulator, client: httpx.Client) -> None:
    emulator.script(text="tok " * 100_000)
    r = stream(emulator, client, chat("x", max_tokens=200_000))
    events = sse_json(r.text)
    assert events[-1]["usage"]["completion_tokens"] == 100_000


def test_pooling_keeps_one_connection(emulator: Emulator) -> None:
    with httpx.Client(headers=emulator.headers) as c:
        for i in range(20):
            body = chat(f"n{i}", stream=bool(i % 2))
            assert c.post(emulator.run_url(), json=body).status_code == 200
    assert emulator.connections_opened == 1


def test_error_responses_keep_alive(emulator: Emulator) -> None:
    with httpx.Client(headers=emulator.headers) as c:
        for _ in range(5):
            assert c.post(emulator.run_url(), json={"messages": 3}).status_code == 400
            assert c.post(emulator.run_url(), json=chat("ok")).status_code == 200
    assert emulator.connections_opened == 1
