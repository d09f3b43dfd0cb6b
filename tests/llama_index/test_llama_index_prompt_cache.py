"""CloudflareMistral: session affinity per LLM and per call, cached tokens in ``raw["usage"]``
(what ``TokenCountingHandler`` reads), every usage key kept, and cost from ``pricing``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler

import cf_mistral as cf
from cf_mistral.emulator import Emulator
from llama_index_cf_mistral import CloudflareMistral

HEADER = "x-session-affinity"
PROMPT = [
    ChatMessage(role="system", content="You answer weather questions in one sentence. " * 6),
    ChatMessage(role="user", content="Weather in Oslo?"),
]


async def test_session_affinity_is_sent_as_a_header_by_every_endpoint(
    make_calls: Callable[..., Any], emulator: Emulator
) -> None:
    calls = make_calls(session_affinity="llm-key")
    await calls.chat(PROMPT)
    await calls.stream_chat(PROMPT)
    await calls.complete("Hi")
    await calls.stream_complete("Hi")
    await calls.chat(PROMPT, session_affinity="call-key")
    await calls.stream_chat(PROMPT, session_affinity="call-key")
    sent = [r.headers.get(HEADER) for r in emulator.requests]
    assert sent == ["llm-key"] * 4 + ["call-key"] * 2
    assert all("-key" not in r.raw.decode() for r in emulator.requests)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_cached_tokens_reach_raw_usage_and_token_counting(
    make_calls: Callable[..., Any], emulator: Emulator, stream: bool
) -> None:
    calls = make_calls(session_affinity="conversation")
    counter = TokenCountingHandler()
    calls.llm.callback_manager = CallbackManager([counter])
    await calls.chat(PROMPT)
    if stream:
        response = (await calls.stream_chat(PROMPT))[-1]
    else:
        response = await calls.chat(PROMPT)
    usage = response.raw["usage"]
    assert usage["prompt_tokens_details"] == {"cached_tokens": usage["prompt_tokens"]}
    assert response.additional_kwargs == usage
    assert counter.prompt_llm_token_count == 2 * usage["prompt_tokens"]


async def test_other_usage_keys_are_kept_and_cost_uses_pricing(
    make_calls: Callable[..., Any], emulator: Emulator
) -> None:
    price = cf.ModelPrice(
        input_usd_per_million=1.0, output_usd_per_million=2.0, cached_input_usd_per_million=0.5
    )
    reported = {
        "prompt_tokens": 10,
        "completion_tokens": 4,
        "total_tokens": 14,
        "neurons": 0.5,
        "prompt_tokens_details": {"cached_tokens": 6},
    }
    emulator.script(text="Cold.", usage=reported, repeat=2)
    calls = make_calls(pricing={cf.DEFAULT_MODEL: price})
    for response in (await calls.chat(PROMPT), (await calls.stream_chat(PROMPT))[-1]):
        assert response.raw["usage"] == reported
        assert response.raw["cost_usd"] == pytest.approx((4 * 1.0 + 6 * 0.5 + 4 * 2.0) / 1e6)


def test_default_cost_bills_cached_input_in_full(
    llm: CloudflareMistral, emulator: Emulator
) -> None:
    emulator.script(
        text="Cold.",
        usage={
            "prompt_tokens": 10,
            "completion_tokens": 4,
            "prompt_tokens_details": {"cached_tokens": 6},
        },
    )
    assert llm.chat(PROMPT).raw["cost_usd"] == pytest.approx((10 * 0.35 + 4 * 0.56) / 1e6)


def test_a_bad_key_is_refused_before_sending(
    connection: dict[str, Any], llm: CloudflareMistral, emulator: Emulator
) -> None:
    with pytest.raises(cf.InvalidRequestError, match="x-session-affinity"):
        CloudflareMistral(**connection, session_affinity="two\nlines")
    with pytest.raises(cf.InvalidRequestError, match="x-session-affinity"):
        llm.chat(PROMPT, session_affinity=" ")
    assert emulator.requests == []


def test_session_affinity_and_pricing_survive_serialization(connection: dict[str, Any]) -> None:
    price = cf.ModelPrice(input_usd_per_million=1.0, output_usd_per_million=2.0)
    llm = CloudflareMistral(**connection, session_affinity="k", pricing={cf.DEFAULT_MODEL: price})
    data = llm.to_dict()
    assert data["session_affinity"] == "k"
    rebuilt = CloudflareMistral.from_dict({**data, "api_token": connection["api_token"]})
    assert rebuilt.session_affinity == "k"
    assert rebuilt.pricing == {cf.DEFAULT_MODEL: price}
