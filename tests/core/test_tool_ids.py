"""Tool-call ids: any id maps to nine base62 characters, deterministically and statelessly."""

from __future__ import annotations

import re

import pytest

from cf_mistral import (
    AssistantMessage,
    ChatRequest,
    ToolCall,
    ToolDefinition,
    ToolMessage,
    UserMessage,
    mint_tool_call_id,
    to_mistral_tool_call_id,
)
from cf_mistral.emulator import Emulator

from .helpers import WEATHER_PARAMETERS, Driver

NINE_BASE62 = re.compile(r"[A-Za-z0-9]{9}")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("abc123", "pL5rEGzxe"),
        ("call_JIIjI55tTipFFzpcP8re3BpM", "8kxAQvoED"),
        ("ssAbar4Dr", "ssAbar4Dr"),
    ],
)
def test_pinned_tool_id_vectors(given: str, expected: str) -> None:
    assert to_mistral_tool_call_id(given) == expected


@pytest.mark.parametrize(
    "given",
    ["", "x", "abcdefghij", "chatcmpl-tool-875d3ec6179676ae", "ééééééééé", "a b c d e", "0" * 100],
)
def test_any_id_maps_to_nine_base62_characters(given: str) -> None:
    mapped = to_mistral_tool_call_id(given)
    assert NINE_BASE62.fullmatch(mapped)
    assert to_mistral_tool_call_id(given) == mapped  # deterministic
    assert to_mistral_tool_call_id(mapped) == mapped  # idempotent


def test_ids_sharing_their_last_nine_characters_do_not_collide() -> None:
    # A vLLM backend keeps the last nine characters; hashing must not.
    a = to_mistral_tool_call_id("call_aaaaa123456789")
    b = to_mistral_tool_call_id("call_bbbbb123456789")
    assert a != b


def test_minted_ids_are_nine_base62_and_avoid_taken_ids() -> None:
    taken: set[str] = set()
    minted = [mint_tool_call_id(taken) for _ in range(500)]
    assert all(NINE_BASE62.fullmatch(i) for i in minted)
    assert len(set(minted)) == 500
    assert taken == set(minted)
    assert NINE_BASE62.fullmatch(mint_tool_call_id())


async def test_ids_minted_for_a_reply_are_unique_within_it(
    emulator: Emulator, driver: Driver
) -> None:
    # Workers AI's native reply carries no ids: the client mints one per call.
    calls = [{"name": "get_weather", "arguments": {"city": f"c{i}"}} for i in range(20)]
    emulator.script(tool_calls=calls)
    tools = [ToolDefinition("get_weather", "Weather", WEATHER_PARAMETERS)]
    result = await driver.chat(ChatRequest(messages=[UserMessage("go")], tools=tools))
    ids = [call.id for call in result.tool_calls]
    assert len(ids) == 20
    assert len(set(ids)) == 20
    assert all(NINE_BASE62.fullmatch(i) for i in ids)


@pytest.mark.parametrize("policy", ["strict9", "vllm", "lenient"])
async def test_foreign_ids_round_trip_under_every_server_id_policy(
    emulator: Emulator, driver: Driver, policy: str
) -> None:
    # WIRE-FORMAT §13: which id check Cloudflare applies is unknown; nine base62 passes all.
    emulator.configure(tool_id_policy=policy)
    history = [
        UserMessage("weather?"),
        AssistantMessage(
            tool_calls=[
                ToolCall("call_aaaaa123456789", "get_weather", {"city": "A"}),
                ToolCall("call_bbbbb123456789", "get_weather", {"city": "B"}),
            ]
        ),
        ToolMessage("call_aaaaa123456789", "cold"),
        ToolMessage("call_bbbbb123456789", "warm"),
    ]
    tools = [ToolDefinition("get_weather", "Weather", WEATHER_PARAMETERS)]
    result = await driver.chat(ChatRequest(messages=history, tools=tools))
    assert result.text == "Based on the tool results: cold; warm"
    sent = emulator.last_request.body["messages"]  # type: ignore[union-attr]
    ids = [call["id"] for call in sent[1]["tool_calls"]]
    assert [sent[2]["tool_call_id"], sent[3]["tool_call_id"]] == ids
    assert len(set(ids)) == 2
