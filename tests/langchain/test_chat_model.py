"""ChatCloudflareMistral against the emulator: replies, streams, metadata and wire bodies."""

from __future__ import annotations

import asyncio
import base64
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from pydantic import BaseModel, Field

import cf_mistral as cf
from cf_mistral.emulator import Emulator
from langchain_cf_mistral import ChatCloudflareMistral
from tests.core.helpers import LoopbackServer, head

from .conftest import Runner

MISTRAL_ID = re.compile(r"[A-Za-z0-9]{9}")
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)
PNG_B64 = base64.b64encode(PNG).decode()


class GetWeather(BaseModel):
    """Get the current weather in a city."""

    city: str = Field(description="The city name")


class GetTime(BaseModel):
    """Get the local time in a city."""

    city: str = Field(description="The city name")


def body(emulator: Emulator, index: int = -1) -> dict[str, Any]:
    recorded: dict[str, Any] = emulator.requests[index].body
    return recorded


# -- plain calls ---------------------------------------------------------------------------


async def test_reply_text_usage_and_metadata(run: Runner, model: ChatCloudflareMistral) -> None:
    reply = await run(model, "Hello there")
    message = reply.message
    assert message.text == "You said: Hello there"
    assert isinstance(message, AIMessage)
    usage = message.usage_metadata
    assert usage is not None
    assert usage["input_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    meta = message.response_metadata
    assert meta["model_name"] == cf.DEFAULT_MODEL
    assert meta["model_provider"] == "cloudflare"
    assert meta["finish_reason"] == "stop"
    assert meta["request_id"]
    expected = (usage["input_tokens"] * 0.35 + usage["output_tokens"] * 0.56) / 1e6
    assert meta["cost_usd"] == pytest.approx(expected)


@pytest.mark.parametrize("mode", ["stream", "astream"])
async def test_stream_usage_is_reported_on_exactly_one_chunk(
    mode: str, model: ChatCloudflareMistral
) -> None:
    run = Runner(mode)
    reply = await run(model, "Write me two haikus")
    with_usage = [chunk for chunk in reply.chunks if chunk.usage_metadata]
    assert len(with_usage) == 1
    assert len([c for c in reply.chunks if c.text]) > 1  # streamed token by token
    assert reply.chunks[-1].chunk_position == "last"


async def test_wire_body_carries_parameters_and_never_framework_keys(
    run: Runner, emulator: Emulator, make_model: Callable[..., ChatCloudflareMistral]
) -> None:
    model = make_model(
        temperature=0.3,
        max_tokens=64,
        top_p=0.9,
        top_k=20,
        seed=7,
        repetition_penalty=1.1,
        frequency_penalty=0.2,
        presence_penalty=0.1,
        streaming=run.streams,
    )
    await run(model, [SystemMessage("Be brief."), HumanMessage("Hi")], max_tokens=32)
    sent = body(emulator)
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
    ]
    assert {k: sent[k] for k in ("temperature", "top_p", "top_k", "seed")} == {
        "temperature": 0.3,
        "top_p": 0.9,
        "top_k": 20,
        "seed": 7,
    }
    assert sent["max_tokens"] == 32  # the per-call value wins
    assert sent["repetition_penalty"] == 1.1
    assert sent["frequency_penalty"] == 0.2
    assert sent["presence_penalty"] == 0.1
    assert sent.get("stream", False) is run.streams
    for key in ("api_key", "api_token", "streaming", "stop", "model", "timeout"):
        assert key not in sent


async def test_stop_sequences_end_the_reply_client_side(
    run: Runner, emulator: Emulator, make_model: Callable[..., ChatCloudflareMistral]
) -> None:
    emulator.script(text="one two three four", repeat=2)
    reply = await run(make_model(), "count", stop=["three"])
    assert reply.message.text == "one two "
    assert reply.message.response_metadata["finish_reason"] == "stop"
    assert "stop" not in body(emulator)
    # The init-time stop works the same.
    emulator.script(text="one two three four")
    assert (await run(make_model(stop=["two"]), "count")).message.text == "one "


async def test_batch_and_abatch(model: ChatCloudflareMistral) -> None:
    assert [m.text for m in model.batch(["a", "b"])] == ["You said: a", "You said: b"]
    assert [m.text for m in await model.abatch(["c", "d"])] == ["You said: c", "You said: d"]


async def test_per_call_model_is_sent_and_traced(
    emulator: Emulator, model: ChatCloudflareMistral
) -> None:
    other = "@cf/mistralai/other-model"
    emulator.configure(models=(cf.DEFAULT_MODEL, other))
    reply = model.invoke("Hi", model=other)
    assert emulator.requests[-1].model == other
    assert reply.response_metadata["model_name"] == other
    assert model._get_ls_params(model=other)["ls_model_name"] == other
    chunks = list(model.stream("Hi", model=other))
    assert emulator.requests[-1].model == other
    assert sum(chunks[1:], chunks[0]).response_metadata["model_name"] == other


async def test_async_is_native_not_a_thread(model: ChatCloudflareMistral) -> None:
    assert type(model)._agenerate is not BaseChatModel._agenerate
    assert type(model)._astream is not BaseChatModel._astream
    reply = await model.ainvoke("Hi")
    assert isinstance(model._async_client._http, httpx.AsyncClient)
    assert reply.text == "You said: Hi"


def test_one_model_serves_several_event_loops(model: ChatCloudflareMistral) -> None:
    # A second asyncio.run must not reuse the first loop's connection pool.
    async def streamed() -> str:
        return "".join([str(chunk.content) async for chunk in model.astream("Hi")])

    assert asyncio.run(model.ainvoke("Hi")).text == "You said: Hi"
    assert asyncio.run(streamed()) == "You said: Hi"
    asyncio.run(model.aclose())


def test_injected_http_clients_are_used(connection: dict[str, Any], emulator: Emulator) -> None:
    seen: list[str] = []
    client = httpx.Client(event_hooks={"request": [lambda r: seen.append(str(r.url))]})
    model = ChatCloudflareMistral(**connection, http_client=client)
    model.invoke("Hi")
    assert seen
    assert seen[0].startswith(emulator.base_url)


# -- tools -----------------------------------------------------------------------------------


async def test_tool_calls_have_mistral_ids_and_stream_as_indexed_chunks(
    run: Runner, model: ChatCloudflareMistral
) -> None:
    reply = await run(
        model.bind_tools([GetWeather, GetTime]), "Use GetWeather and GetTime for Paris"
    )
    message = reply.message
    assert [call["name"] for call in message.tool_calls] == ["GetWeather", "GetTime"]
    assert all(MISTRAL_ID.fullmatch(call["id"] or "") for call in message.tool_calls)
    assert message.tool_calls[0]["args"] == {"city": "Paris"}
    assert message.response_metadata["finish_reason"] == "tool_calls"
    if run.streams:
        chunks = [c for chunk in reply.chunks for c in chunk.tool_call_chunks]
        assert {c["index"] for c in chunks} == {0, 1}
        firsts = {}
        for c in chunks:
            firsts.setdefault(c["index"], c)
        assert all(c["id"] and c["name"] for c in firsts.values())
        assert all(c["id"] is None for c in chunks if c not in firsts.values())


async def test_tool_definitions_reach_the_wire_in_openai_form(
    emulator: Emulator, model: ChatCloudflareMistral
) -> None:
    def lookup(query: str, limit: int = 3) -> str:
        """Look something up."""
        return query

    tools: list[Any] = [
        GetWeather,
        lookup,
        {
            "name": "raw_dict",
            "description": "d",
            "parameters": {"type": "object", "properties": {}},
        },
        {
            "name": "anthropic_style",
            "description": "d",
            "input_schema": {"type": "object", "properties": {"x": {"type": "string"}}},
        },
    ]
    model.bind_tools(tools).invoke("Hi")
    sent = body(emulator)["tools"]
    assert [t["function"]["name"] for t in sent] == [
        "GetWeather",
        "lookup",
        "raw_dict",
        "anthropic_style",
    ]
    assert sent[0]["function"]["parameters"]["properties"]["city"]["type"] == "string"
    assert all(t["type"] == "function" for t in sent)


@pytest.mark.parametrize(
    "choice",
    [
        "any",
        "required",
        True,
        "GetWeather",
        {"type": "function", "function": {"name": "GetWeather"}},
    ],
)
async def test_forced_tool_choice_is_constrained_decoding(
    run: Runner, emulator: Emulator, model: ChatCloudflareMistral, choice: Any
) -> None:
    bound = model.bind_tools([GetWeather], tool_choice=choice)
    reply = await run(bound, "What's it like in Lyon?")
    assert [call["name"] for call in reply.message.tool_calls] == ["GetWeather"]
    sent = body(emulator)
    assert "tools" not in sent
    assert "tool_choice" not in sent
    assert sent["guided_json"]["properties"]["city"]["type"] == "string"


async def test_tool_choice_none_sends_no_tools(
    emulator: Emulator, model: ChatCloudflareMistral
) -> None:
    reply = model.bind_tools([GetWeather], tool_choice="none").invoke("Use GetWeather for Paris")
    assert reply.tool_calls == []
    assert "tools" not in body(emulator)


def test_tool_choice_naming_an_unbound_tool_is_refused(model: ChatCloudflareMistral) -> None:
    with pytest.raises(cf.InvalidRequestError, match="names no bound tool"):
        model.bind_tools([GetWeather], tool_choice="nope")
    with pytest.raises(cf.InvalidRequestError, match="not understood"):
        model.bind_tools([GetWeather], tool_choice=3.5)  # type: ignore[arg-type]


async def test_unicode_arguments_survive(
    run: Runner, emulator: Emulator, model: ChatCloudflareMistral
) -> None:
    emulator.script(tool_calls=[{"name": "GetWeather", "arguments": {"city": "東京 Zürich"}}])
    reply = await run(model.bind_tools([GetWeather]), "Use GetWeather")
    assert reply.message.tool_calls[0]["args"] == {"city": "東京 Zürich"}
    model.invoke(
        [
            HumanMessage("x"),
            reply.message,
            ToolMessage("晴れ", tool_call_id=reply.message.tool_calls[0]["id"]),
        ]
    )
    raw = emulator.requests[-1].raw.decode()
    assert "東京 Zürich" in raw
    assert "晴れ" in raw


async def test_malformed_tool_arguments_become_invalid_tool_calls(
    run: Runner, emulator: Emulator, model: ChatCloudflareMistral
) -> None:
    emulator.script(tool_calls=[{"name": "GetWeather", "arguments": "city is Paris"}])
    reply = await run(model.bind_tools([GetWeather]), "Use GetWeather")
    message = reply.message
    assert message.tool_calls == []
    assert len(message.invalid_tool_calls) == 1
    assert message.invalid_tool_calls[0]["name"] == "GetWeather"
    assert message.invalid_tool_calls[0]["args"] == "city is Paris"


def test_history_with_foreign_tool_ids_maps_them_consistently(
    emulator: Emulator, model: ChatCloudflareMistral
) -> None:
    history = [
        HumanMessage("Weather in Paris?"),
        AIMessage(
            content=[
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "call_JIIjI55tTipFFzpcP8re3BpM",
                    "name": "GetWeather",
                    "input": {},
                },
            ],
            tool_calls=[
                {
                    "id": "call_JIIjI55tTipFFzpcP8re3BpM",
                    "name": "GetWeather",
                    "args": {"city": "Paris"},
                }
            ],
        ),
        ToolMessage("sunny", tool_call_id="call_JIIjI55tTipFFzpcP8re3BpM", status="error"),
        HumanMessage("And tomorrow?"),
    ]
    reply = model.bind_tools([GetWeather]).invoke(history)
    assert isinstance(reply, AIMessage)
    wire = body(emulator)["messages"]
    assert wire[1] == {"role": "assistant", "content": "Let me check."}
    assert wire[2]["content"] == ""
    assert wire[2]["tool_calls"][0]["id"] == "8kxAQvoED"
    assert json.loads(wire[2]["tool_calls"][0]["function"]["arguments"]) == {"city": "Paris"}
    assert wire[3] == {
        "role": "tool",
        "tool_call_id": "8kxAQvoED",
        "content": "Error: sunny",
        "name": "GetWeather",
    }
    assert wire[4]["role"] == "assistant"  # the core's acknowledgement between tool and user
    assert wire[5] == {"role": "user", "content": "And tomorrow?"}


async def test_parallel_tool_calls_false_keeps_the_first_call(
    run: Runner, model: ChatCloudflareMistral
) -> None:
    bound = model.bind_tools([GetWeather, GetTime], parallel_tool_calls=False)
    with pytest.warns(UserWarning, match="parallel_tool_calls=False"):
        reply = await run(bound, "Use GetWeather and GetTime for Paris")
    assert [call["name"] for call in reply.message.tool_calls] == ["GetWeather"]


# -- response_format with tools (create_agent's provider strategy) ----------------------------


class Answer(BaseModel):
    city: str
    summary: str


RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "Answer", "schema": Answer.model_json_schema()},
}


async def test_response_format_with_tools_keeps_tool_calls_possible(
    run: Runner, emulator: Emulator, model: ChatCloudflareMistral
) -> None:
    bound = model.bind_tools([GetWeather], response_format=RESPONSE_FORMAT)
    reply = await run(bound, "Use GetWeather for Paris")
    assert [call["name"] for call in reply.message.tool_calls] == ["GetWeather"]
    assert len(emulator.requests) == 1
    assert "guided_json" not in body(emulator)
    assert "tools" in body(emulator)


async def test_response_format_with_tools_constrains_the_final_answer(
    run: Runner, emulator: Emulator, model: ChatCloudflareMistral
) -> None:
    bound = model.bind_tools([GetWeather], response_format=RESPONSE_FORMAT)
    reply = await run(bound, "Summarise Paris for me")
    message = reply.message
    assert set(json.loads(message.text)) == {"city", "summary"}
    first, second = emulator.requests[-2].body, emulator.requests[-1].body
    assert "tools" in first
    assert "guided_json" not in first
    assert "tools" not in second
    assert second["guided_json"]["required"] == ["city", "summary"]
    usage = message.usage_metadata
    assert usage is not None
    assert usage["input_tokens"] > 4  # both phases counted
    if run.streams:
        assert len([chunk for chunk in reply.chunks if chunk.usage_metadata]) == 1


async def test_response_format_without_tools_is_guided_json(
    emulator: Emulator, model: ChatCloudflareMistral
) -> None:
    model.bind(response_format=RESPONSE_FORMAT).invoke("Paris")
    assert body(emulator)["guided_json"]["required"] == ["city", "summary"]
    model.bind(response_format={"type": "json_object"}).invoke("Paris")
    assert body(emulator)["guided_json"] == {}


# -- images -------------------------------------------------------------------------------------

IMAGE_BLOCKS = {
    "openai_image_url": {
        "type": "image_url",
        "image_url": {"url": f"data:image/png;base64,{PNG_B64}"},
    },
    "openai_image_url_string": {
        "type": "image_url",
        "image_url": f"data:image/png;base64,{PNG_B64}",
    },
    "v0_base64": {
        "type": "image",
        "source_type": "base64",
        "data": PNG_B64,
        "mime_type": "image/png",
    },
    "v1_base64": {"type": "image", "base64": PNG_B64, "mime_type": "image/png"},
    "anthropic": {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64},
    },
}


@pytest.mark.parametrize("block", IMAGE_BLOCKS.values(), ids=IMAGE_BLOCKS.keys())
def test_image_blocks_become_data_urls(
    emulator: Emulator, model: ChatCloudflareMistral, block: dict[str, Any]
) -> None:
    reply = model.invoke([HumanMessage(content=[{"type": "text", "text": "What is this?"}, block])])
    assert "[1 image(s) received]" in reply.text
    content = body(emulator)["messages"][0]["content"]
    assert content == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
    ]


def test_remote_image_is_refused_with_the_fix(
    emulator: Emulator, model: ChatCloudflareMistral
) -> None:
    with pytest.raises(cf.InvalidRequestError, match="inline_remote_images=True"):
        model.invoke(
            [HumanMessage(content=[{"type": "image", "url": "https://example.com/cat.png"}])]
        )
    assert emulator.requests == []


def test_remote_image_is_inlined_when_opted_in(
    connection: dict[str, Any], emulator: Emulator
) -> None:
    server = LoopbackServer()
    server.routes["/cat.png"] = lambda: iter(
        [head("200 OK", "Content-Type: image/png", f"Content-Length: {len(PNG)}") + PNG]
    )
    try:
        url = f"{server.url}/cat.png"
        blocks = [HumanMessage(content=[{"type": "image", "url": url}])]
        # Loopback is a private destination: refused unless the host is named.
        model = ChatCloudflareMistral(**connection, inline_remote_images=True)
        with pytest.raises(cf.InvalidRequestError, match="private_image_hosts"):
            model.invoke(blocks)
        model = ChatCloudflareMistral(
            **connection, inline_remote_images=True, private_image_hosts=["127.0.0.1"]
        )
        assert model.profile is not None
        assert model.profile["image_url_inputs"] is True
        model.invoke(blocks)
    finally:
        server.close()
    part = body(emulator)["messages"][0]["content"][0]
    assert part == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}}


def test_unsupported_blocks_are_refused_naming_the_block(model: ChatCloudflareMistral) -> None:
    pdf = {"type": "file", "base64": "JVBERi0=", "mime_type": "application/pdf"}
    with pytest.raises(cf.InvalidRequestError, match="'file'"):
        model.invoke([HumanMessage(content=[pdf])])
    with pytest.raises(cf.InvalidRequestError, match="tool results as text"):
        model.invoke(
            [
                HumanMessage("x"),
                AIMessage("", tool_calls=[{"id": "a", "name": "f", "args": {}}]),
                ToolMessage(content=[IMAGE_BLOCKS["v1_base64"]], tool_call_id="a"),
            ]
        )


# -- construction --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"temperature": 7}, "temperature"),
        ({"top_k": 0}, "top_k"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"model_kwargs": {"foo": 1}}, "foo"),
        ({"model_kwargs": {"guided_json": {}}}, "guided_json"),
        ({"model_kwargs": {"temperature": 0.1}}, "own arguments"),
        ({"foo": 1}, "unknown argument"),
        ({"temprature": 0.2}, r"'temprature' \(did you mean 'temperature'\?\)"),
        ({"timeout": "soon"}, "timeout"),
        ({"http_client": "not a client"}, r"needs an httpx\.Client"),
    ],
)
def test_bad_configuration_fails_at_construction(options: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ChatCloudflareMistral(account_id="a", api_token="t", **options)


def test_aliases_env_and_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "env-account")
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "env-token")
    model = ChatCloudflareMistral(model_name="@cf/x/y", api_key="sekrit-key")
    assert model.model == "@cf/x/y"
    assert model.api_token is not None
    assert model.api_token.get_secret_value() == "sekrit-key"
    assert model.account_id == "env-account"
    assert "sekrit-key" not in repr(model)
    assert ChatCloudflareMistral().api_token.get_secret_value() == "env-token"  # type: ignore[union-attr]


def test_missing_credentials_name_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "CLOUDFLARE_ACCOUNT_ID",
        "CF_ACCOUNT_ID",
        "CLOUDFLARE_API_TOKEN",
        "CLOUDFLARE_AUTH_TOKEN",
        "CF_AI_API_TOKEN",
        "CF_API_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(cf.InvalidRequestError, match="CLOUDFLARE_ACCOUNT_ID"):
        ChatCloudflareMistral().invoke("Hi")


def test_profile_and_identity() -> None:
    model = ChatCloudflareMistral(account_id="a", api_token="t")
    profile = model.profile
    assert profile is not None
    assert profile["max_input_tokens"] == 128_000
    assert profile["tool_calling"]
    assert profile["structured_output"]
    assert profile["image_inputs"]
    assert profile["image_url_inputs"] is False
    assert model._llm_type == "cloudflare-mistral-chat"
    assert model.lc_secrets == {"api_token": "CLOUDFLARE_API_TOKEN"}
    assert ChatCloudflareMistral.get_lc_namespace() == ["langchain_cf_mistral", "chat_models"]


def test_model_round_trips_through_dumpd_load(monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_core.load import dumpd, load

    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "env-token")
    model = ChatCloudflareMistral(
        account_id="a", api_token="sekrit-token", temperature=0.5, stop=["x"]
    )
    data = dumpd(model)
    assert "sekrit-token" not in json.dumps(data)
    loaded = load(
        data,
        valid_namespaces=["langchain_cf_mistral"],
        allowed_objects=[ChatCloudflareMistral],
        secrets_from_env=True,
    )
    assert isinstance(loaded, ChatCloudflareMistral)
    assert (loaded.temperature, loaded.stop, loaded.account_id) == (0.5, ["x"], "a")
    assert loaded.api_token is not None
    assert loaded.api_token.get_secret_value() == "env-token"


def test_streaming_true_makes_invoke_stream(
    emulator: Emulator, make_model: Callable[..., ChatCloudflareMistral]
) -> None:
    reply = make_model(streaming=True).invoke("Hi")
    assert body(emulator)["stream"] is True
    assert (isinstance(reply, AIMessage) and not isinstance(reply, AIMessageChunk)) or reply.text
    assert reply.text == "You said: Hi"


def test_ai_gateway_route_and_headers(connection: dict[str, Any], emulator: Emulator) -> None:
    gateway = cf.AIGateway(gateway_id="my-gw", base_url=emulator.gateway_url, cache_ttl=300)
    model = ChatCloudflareMistral(**connection, gateway=gateway)
    assert model.invoke("Hi").text == "You said: Hi"
    recorded = emulator.requests[-1]
    assert recorded.route == "gateway"
    assert recorded.gateway == "my-gw"
    assert recorded.headers.get("cf-aig-cache-ttl") == "300"


def test_rate_limiter_is_acquired_before_each_call(
    make_model: Callable[..., ChatCloudflareMistral],
) -> None:
    from langchain_core.rate_limiters import InMemoryRateLimiter

    acquired: list[bool] = []

    class Counting(InMemoryRateLimiter):
        def acquire(self, *, blocking: bool = True) -> bool:
            acquired.append(blocking)
            return True

    model = make_model(rate_limiter=Counting())
    model.invoke("a")
    list(model.stream("b"))
    assert len(acquired) == 2


def test_max_connections_reaches_the_core_client() -> None:
    model = ChatCloudflareMistral(account_id="a", api_token="t", max_connections=7)
    assert model._config.max_connections == 7
    with pytest.raises(ValueError, match="max_connections"):
        ChatCloudflareMistral(account_id="a", api_token="t", max_connections=0)


def test_default_headers_stay_out_of_serialization_and_cache_keys() -> None:
    from langchain_core.load import dumps

    model = ChatCloudflareMistral(
        account_id="a", api_token="t", default_headers={"cf-aig-authorization": "Bearer HDRSECRET"}
    )
    assert "HDRSECRET" not in dumps(model)
    assert model.default_headers == {"cf-aig-authorization": "Bearer HDRSECRET"}
