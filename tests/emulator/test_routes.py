"""Routes, auth, model lookup, headers, recording."""

from __future__ import annotations

import re
import uuid

import httpx

from cf_mistral.emulator import Emulator, EmulatorConfig

from .helpers import MODEL, chat, sse_json


def test_native_non_stream_shape(emulator: Emulator, client: httpx.Client) -> None:
    r = client.post(emulator.run_url(), json=chat("Hello there"))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert list(body) == ["result", "success", "errors", "messages"]
    assert body["success"] is True
    assert body["errors"] == []
    assert body["messages"] == []
    assert body["result"]["response"] == "You said: Hello there"
    usage = body["result"]["usage"]
    assert usage == {"prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7}
    assert "tool_calls" not in body["result"]


def test_reply_headers(emulator: Emulator, client: httpx.Client) -> None:
    r = client.post(emulator.run_url(), json=chat("hi"))
    assert re.fullmatch(r"[0-9a-f]{16}-SJC", r.headers["cf-ray"])
    uuid.UUID(r.headers["cf-ai-req-id"])
    r2 = client.post(emulator.run_url(), json=chat("hi"))
    assert r2.headers["cf-ai-req-id"] != r.headers["cf-ai-req-id"]


def test_urls(emulator: Emulator) -> None:
    assert emulator.base_url == f"http://127.0.0.1:{emulator.port}/client/v4"
    assert emulator.gateway_url == f"http://127.0.0.1:{emulator.port}/v1"
    assert emulator.url == f"http://127.0.0.1:{emulator.port}"
    assert emulator.token == "test-token"
    assert emulator.run_url().endswith(f"/accounts/{emulator.account_id}/ai/run/{MODEL}")


def test_prompt_form(emulator: Emulator, client: httpx.Client) -> None:
    r = client.post(emulator.run_url(), json={"prompt": "Tell me a joke"})
    assert r.json()["result"]["response"] == "You said: Tell me a joke"


def test_model_in_body_form(emulator: Emulator, client: httpx.Client) -> None:
    url = f"{emulator.base_url}/accounts/{emulator.account_id}/ai/run"
    r = client.post(
        url, json={"model": MODEL, "input": chat("hey")}, headers={"cf-aig-gateway-id": "gw1"}
    )
    assert r.status_code == 200
    assert r.json()["result"]["response"] == "You said: hey"
    assert emulator.last_request is not None
    assert emulator.last_request.gateway == "gw1"
    assert emulator.last_request.model == MODEL


def test_auth_missing_and_wrong(emulator: Emulator) -> None:
    expected = {
        "result": None,
        "success": False,
        "errors": [{"code": 10000, "message": "Authentication error"}],
        "messages": [],
    }
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"}):
        r = httpx.post(emulator.run_url(), json=chat("hi"), headers=headers)
        assert r.status_code == 401
        assert r.json() == expected


def test_token_none_accepts_any_bearer(emulator: Emulator) -> None:
    emulator.configure(token=None)
    r = httpx.post(emulator.run_url(), json=chat("hi"), headers={"Authorization": "Bearer x"})
    assert r.status_code == 200
    r = httpx.post(emulator.run_url(), json=chat("hi"))
    assert r.status_code == 401


def test_unknown_model(emulator: Emulator, client: httpx.Client) -> None:
    r = client.post(emulator.run_url("@cf/meta/llama-3.1-8b-instruct"), json=chat("hi"))
    assert r.status_code == 400
    err = r.json()["errors"][0]
    assert err == {"message": "No such model @cf/meta/llama-3.1-8b-instruct or task", "code": 5007}


def test_extra_models_configurable(emulator: Emulator, client: httpx.Client) -> None:
    emulator.configure(models=(MODEL, "@cf/meta/llama-3.1-8b-instruct"))
    r = client.post(emulator.run_url("@cf/meta/llama-3.1-8b-instruct"), json=chat("hi"))
    assert r.status_code == 200


def test_unknown_route_and_method(emulator: Emulator, client: httpx.Client) -> None:
    r = client.post(emulator.url + "/client/v4/nothing", json={})
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == 7000
    r = client.get(emulator.run_url())
    assert r.status_code == 405


def test_openai_non_stream(emulator: Emulator, client: httpx.Client) -> None:
    r = client.post(emulator.openai_url, json={"model": MODEL, **chat("Hello")})
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == MODEL
    choice = body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "You said: Hello"}
    assert choice["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + 4
    assert emulator.last_request is not None
    assert emulator.last_request.route == "openai"


def test_openai_stream(emulator: Emulator, client: httpx.Client) -> None:
    r = client.post(emulator.openai_url, json={"model": MODEL, "stream": True, **chat("Hello")})
    assert r.headers["content-type"] == "text/event-stream"
    assert r.text.endswith("data: [DONE]\n\n")
    chunks = sse_json(r.text)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "You said: Hello"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 4


def test_openai_tool_calls(emulator: Emulator, client: httpx.Client) -> None:
    from .helpers import WEATHER_TOOL

    body = {
        "model": MODEL,
        "tools": [WEATHER_TOOL],
        "tool_choice": "auto",
        **chat("Use get_weather for Paris over 3 days"),
    }
    msg = client.post(emulator.openai_url, json=body).json()["choices"][0]
    assert msg["finish_reason"] == "tool_calls"
    call = msg["message"]["tool_calls"][0]
    assert re.fullmatch(r"chatcmpl-tool-[0-9a-f]{32}", call["id"])
    assert call["type"] == "function"
    assert call["function"]["name"] == "get_weather"
    assert isinstance(call["function"]["arguments"], str)
    import json

    assert json.loads(call["function"]["arguments"]) == {"city": "Paris", "days": 3}
    stream = client.post(emulator.openai_url, json={**body, "stream": True}).text
    deltas = [c["choices"][0]["delta"] for c in sse_json(stream) if c["choices"]]
    assert any("tool_calls" in d for d in deltas)


def test_openai_errors(emulator: Emulator, client: httpx.Client) -> None:
    r = client.post(emulator.openai_url, json={"model": "nope", **chat("x")})
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == 5007
    r = client.post(emulator.openai_url, json=chat("x"))
    assert r.status_code == 400
    assert "required properties at '/' are 'model'" in r.json()["errors"][0]["message"]
    r = client.post(
        emulator.openai_url,
        json={
            "model": MODEL,
            **chat("x"),
            "response_format": {"type": "json_schema", "json_schema": {"type": "object"}},
        },
    )
    assert r.status_code == 400
    assert "'/response_format/json_schema' are 'name'" in r.json()["errors"][0]["message"]


def test_gateway_routes(emulator: Emulator, client: httpx.Client) -> None:
    for suffix in (MODEL, f"run/{MODEL}"):
        url = f"{emulator.gateway_url}/{emulator.account_id}/my-gw/workers-ai/{suffix}"
        r = client.post(url, json=chat("via gateway"))
        assert r.status_code == 200, r.text
        assert r.json()["result"]["response"] == "You said: via gateway"
        assert r.headers["cf-aig-cache-status"] == "MISS"
        rec = emulator.last_request
        assert rec is not None
        assert (rec.route, rec.gateway, rec.model) == ("gateway", "my-gw", MODEL)
    url = f"{emulator.gateway_url}/{emulator.account_id}/my-gw/workers-ai/v1/chat/completions"
    r = client.post(url, json={"model": MODEL, **chat("x")})
    assert r.json()["object"] == "chat.completion"


def test_gateway_token(emulator: Emulator, client: httpx.Client) -> None:
    emulator.configure(gateway_token="gw-secret")
    url = f"{emulator.gateway_url}/{emulator.account_id}/gw/workers-ai/{MODEL}"
    for extra in ({}, {"cf-aig-authorization": "Bearer wrong"}):
        r = client.post(url, json=chat("x"), headers=extra)
        assert r.status_code == 401
        assert r.json() == {"success": False, "error": [{"code": 2009, "message": "Unauthorized"}]}
    r = client.post(url, json=chat("x"), headers={"cf-aig-authorization": "Bearer gw-secret"})
    assert r.status_code == 200


def test_gateway_unknown(emulator: Emulator, client: httpx.Client) -> None:
    emulator.configure(gateways=("known",))
    url = f"{emulator.gateway_url}/{emulator.account_id}/other/workers-ai/{MODEL}"
    r = client.post(url, json=chat("x"))
    assert r.status_code == 400
    assert r.json()["error"][0]["code"] == 2001


def test_request_recording(emulator: Emulator, client: httpx.Client) -> None:
    client.post(
        emulator.run_url() + "?tags=a", json=chat("one"), headers={"x-session-affinity": "s1"}
    )
    client.post(emulator.run_url(), json=chat("two"))
    reqs = emulator.requests
    assert len(reqs) == 2
    first = reqs[0]
    assert first.method == "POST"
    assert first.route == "native"
    assert first.path.endswith(MODEL)
    assert first.query == "tags=a"
    assert first.headers["x-session-affinity"] == "s1"
    assert first.headers["authorization"] == "Bearer test-token"
    assert first.body == chat("one")
    assert first.raw.startswith(b"{")
    assert first.status == 200
    assert emulator.last_request is reqs[-1] or emulator.last_request == reqs[-1]
    emulator.clear_requests()
    assert emulator.requests == []


def test_separate_instance_with_config() -> None:
    cfg = EmulatorConfig(account_id="acct9", token="tok9")
    with Emulator(cfg) as emu:
        r = httpx.post(emu.run_url(), json=chat("x"), headers={"Authorization": "Bearer tok9"})
        assert r.status_code == 200
        assert "/accounts/acct9/" in emu.run_url()
    assert not emu.running


def test_start_stop_repeatedly() -> None:
    import threading

    before = threading.active_count()
    for _ in range(5):
        emu = Emulator().start()
        with httpx.Client(headers=emu.headers) as c:
            assert c.post(emu.run_url(), json=chat("x")).status_code == 200
        emu.stop()
        emu.stop()  # idempotent
    assert threading.active_count() == before


def test_async_context_manager() -> None:
    import asyncio

    async def main() -> int:
        async with Emulator() as emu, httpx.AsyncClient(headers=emu.headers) as c:
            r = await c.post(emu.run_url(), json=chat("x"))
            return r.status_code

    assert asyncio.run(main()) == 200
