"""Admin endpoints and scripted replies."""

from __future__ import annotations

import json

import httpx

from cf_mistral.emulator import Emulator, Fault, FaultKind, ScriptedReply

from .helpers import chat, sse_json


def test_health(emulator: Emulator) -> None:
    r = httpx.get(emulator.url + "/__emulator/health")
    assert r.status_code == 200
    assert r.json()["ok"] is True


def test_script_via_admin(emulator: Emulator, client: httpx.Client) -> None:
    r = httpx.post(emulator.url + "/__emulator/script", json={"text": "from admin", "repeat": 2})
    assert r.json() == {"ok": True, "queued": 1}
    for _ in range(2):
        assert (
            client.post(emulator.run_url(), json=chat("x")).json()["result"]["response"]
            == "from admin"
        )
    assert (
        client.post(emulator.run_url(), json=chat("x")).json()["result"]["response"]
        == "You said: x"
    )
    r = httpx.post(emulator.url + "/__emulator/script", json={"bogus": 1})
    assert r.status_code == 400


def test_faults_via_admin(emulator: Emulator, client: httpx.Client) -> None:
    httpx.post(emulator.url + "/__emulator/faults", json={"kind": "capacity", "retry_after": 3})
    r = client.post(emulator.run_url(), json=chat("x"))
    assert r.status_code == 429
    assert r.headers["retry-after"] == "3"
    httpx.post(emulator.url + "/__emulator/faults", json={"rate": 1.0, "kinds": ["timeout"]})
    assert client.post(emulator.run_url(), json=chat("x")).status_code == 408


def test_requests_and_reset_via_admin(emulator: Emulator, client: httpx.Client) -> None:
    client.post(emulator.run_url(), json=chat("recorded"))
    data = httpx.get(emulator.url + "/__emulator/requests").json()["requests"]
    assert len(data) == 1
    assert data[0]["body"] == chat("recorded")
    assert data[0]["route"] == "native"
    assert json.loads(data[0]["raw"]) == chat("recorded")
    emulator.script(text="pending")
    httpx.post(emulator.url + "/__emulator/reset")
    assert emulator.requests == []
    assert (
        client.post(emulator.run_url(), json=chat("y")).json()["result"]["response"]
        == "You said: y"
    )


def test_config_via_admin(emulator: Emulator, client: httpx.Client) -> None:
    r = httpx.post(emulator.url + "/__emulator/config", json={"tool_turn_response": "null"})
    assert r.json()["config"]["tool_turn_response"] == "null"
    assert emulator.config.tool_turn_response == "null"
    assert httpx.post(emulator.url + "/__emulator/config", json={"nope": 1}).status_code == 400


def test_script_shortcuts(emulator: Emulator, client: httpx.Client) -> None:
    emulator.script(ScriptedReply(text="one"))
    emulator.script(
        text="two",
        usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3, "neurons": 0.5},
    )
    first = client.post(emulator.run_url(), json=chat("x")).json()["result"]
    second = client.post(emulator.run_url(), json=chat("x")).json()["result"]
    assert first["response"] == "one"
    assert second["response"] == "two"
    assert second["usage"]["neurons"] == 0.5


def test_scripted_tool_calls_and_json(emulator: Emulator, client: httpx.Client) -> None:
    emulator.script(tool_calls=[{"name": "f", "arguments": {"a": 1}}])
    result = client.post(emulator.run_url(), json=chat("x")).json()["result"]
    assert result["response"] == ""
    assert result["tool_calls"] == [{"name": "f", "arguments": {"a": 1}}]
    emulator.script(json={"k": [1, 2]})
    assert json.loads(
        client.post(emulator.run_url(), json=chat("x")).json()["result"]["response"]
    ) == {"k": [1, 2]}


def test_scripted_raw_result(emulator: Emulator, client: httpx.Client) -> None:
    for odd in (
        {"response": 42},
        {"response": None},
        {"response": {"a": 1}},
        {
            "choices": [{"message": {"content": "hi"}}],
            "usage": {"prompt_tokens": 1, "neurons": 0.2},
        },
    ):
        emulator.script(raw_result=odd)
        body = client.post(emulator.run_url(), json=chat("x")).json()
        assert body["result"] == odd
        assert body["success"] is True
    emulator.script(raw_result={"response": 7})
    events = sse_json(client.post(emulator.run_url(), json=chat("x", stream=True)).text)
    assert events == [{"response": 7}]


def test_scripted_raw_body(emulator: Emulator, client: httpx.Client) -> None:
    emulator.script(raw_body='{"errors":{"message":"odd"}}', status=500)
    r = client.post(emulator.run_url(), json=chat("x"))
    assert r.status_code == 500
    assert r.text == '{"errors":{"message":"odd"}}'
    emulator.script(raw_body=b"plain", status=200, content_type="text/plain")
    r = client.post(emulator.run_url(), json=chat("x"))
    assert r.headers["content-type"] == "text/plain"
    assert r.text == "plain"


def test_scripted_reply_json_roundtrip() -> None:
    reply = ScriptedReply(raw_body=b"\x00bin", fault=Fault(kind=FaultKind.stall, stall_seconds=0.1))
    again = ScriptedReply.from_dict(json.loads(json.dumps(reply.to_dict())))
    assert again == reply


def test_sticky_script(emulator: Emulator, client: httpx.Client) -> None:
    emulator.script(text="always", repeat=0)
    for _ in range(3):
        assert (
            client.post(emulator.run_url(), json=chat("x")).json()["result"]["response"] == "always"
        )
