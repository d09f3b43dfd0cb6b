"""The emulator's prompt cache: same ``x-session-affinity`` key, shared prefix, cached tokens."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from cf_mistral.emulator import Emulator, count_tokens
from cf_mistral.emulator._prompt_cache import PromptCache

from .helpers import MODEL, chat, sse_json

PREFIX = "Background: the tides follow the moon, and the moon follows its orbit."


def _usage(emulator: Emulator, client: httpx.Client, body: dict[str, Any], **headers: str) -> Any:
    reply = client.post(emulator.run_url(), json=body, headers=headers)
    assert reply.status_code == 200, reply.text
    if body.get("stream"):
        return sse_json(reply.text)[-1]["usage"]
    return reply.json()["result"]["usage"]


def test_same_key_and_shared_prefix_report_cached_tokens(
    emulator: Emulator, client: httpx.Client
) -> None:
    key = {"x-session-affinity": "conversation-7"}
    first = _usage(emulator, client, chat(PREFIX, "Why?"), **key)
    second = _usage(emulator, client, chat(PREFIX, "How far away is it?"), **key)
    streamed = _usage(emulator, client, chat(PREFIX, "How far away is it?", stream=True), **key)
    assert first["prompt_tokens_details"] == {"cached_tokens": 0}
    assert second["prompt_tokens_details"] == {"cached_tokens": count_tokens(PREFIX)}
    # The whole prompt repeated: all of it is served from cache, on the stream's usage too.
    assert streamed["prompt_tokens_details"] == {"cached_tokens": streamed["prompt_tokens"]}


def test_other_keys_and_calls_without_a_key_share_nothing(
    emulator: Emulator, client: httpx.Client
) -> None:
    _usage(emulator, client, chat(PREFIX, "Why?"), **{"x-session-affinity": "a"})
    other = _usage(emulator, client, chat(PREFIX, "Why?"), **{"x-session-affinity": "b"})
    keyless = _usage(emulator, client, chat(PREFIX, "Why?"))
    assert other["prompt_tokens_details"] == {"cached_tokens": 0}
    assert "prompt_tokens_details" not in keyless


def test_openai_route_reports_cached_tokens(emulator: Emulator, client: httpx.Client) -> None:
    body = {"model": MODEL, **chat(PREFIX, "Why?")}
    key = {"x-session-affinity": "openai"}
    client.post(emulator.openai_url, json=body, headers=key)
    reply = client.post(emulator.openai_url, json=body, headers=key).json()
    usage = reply["usage"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": usage["prompt_tokens"]}


def test_scripted_usage_is_left_as_scripted(emulator: Emulator, client: httpx.Client) -> None:
    emulator.script(text="ok", usage={"prompt_tokens": 3, "completion_tokens": 1}, repeat=2)
    key = {"x-session-affinity": "scripted"}
    _usage(emulator, client, chat("hi"), **key)
    assert _usage(emulator, client, chat("hi"), **key) == {
        "prompt_tokens": 3,
        "completion_tokens": 1,
    }


def test_reset_forgets_the_cache(emulator: Emulator, client: httpx.Client) -> None:
    key = {"x-session-affinity": "reset"}
    _usage(emulator, client, chat(PREFIX), **key)
    emulator.reset()
    assert _usage(emulator, client, chat(PREFIX), **key)["prompt_tokens_details"] == {
        "cached_tokens": 0
    }


def test_the_cache_is_bounded_by_keys_least_recent_first() -> None:
    cache = PromptCache(max_keys=2)
    for key in ("a", "b", "c"):
        cache.cached_tokens(key, "one two three")
    assert len(cache) == 2
    assert cache.cached_tokens("a", "one two three") == 0  # evicted
    assert cache.cached_tokens("c", "one two four") == 2


@pytest.mark.parametrize("size", [10, 25])
def test_the_cache_is_bounded_by_characters(size: int) -> None:
    cache = PromptCache(max_chars=size)
    cache.cached_tokens("short", "a b c")
    cache.cached_tokens("long", "x" * 20)
    total = 5 + (20 if size >= 25 else 0)
    assert sum(len(p) for p in cache._prompts.values()) == total
    assert len(cache) == (2 if size >= 25 else 1)
