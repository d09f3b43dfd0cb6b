"""Prompt-cache affinity, cached-token usage and cost, and langchain-cloudflare's argument names."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

import cf_mistral as cf
from cf_mistral.emulator import Emulator
from langchain_cf_mistral import ChatCloudflareMistral

from .conftest import Runner

HEADER = "x-session-affinity"
PROMPT = [
    SystemMessage("You are a weather assistant who answers in one sentence. " * 6),
    HumanMessage("Weather in Paris?"),
]


async def test_session_affinity_is_a_header_on_every_call_form(
    emulator: Emulator, make_model: Callable[..., ChatCloudflareMistral], run: Runner
) -> None:
    model = make_model(session_affinity="thread-1")
    await run(model, PROMPT)
    await run(model, PROMPT, session_affinity="thread-2")
    await run(model.bind(session_affinity="thread-3"), PROMPT)
    sent = [r.headers.get(HEADER) for r in emulator.requests]
    assert sent == ["thread-1", "thread-2", "thread-3"]
    assert all("thread" not in r.raw.decode() for r in emulator.requests)


async def test_cached_prompt_tokens_are_cache_read_on_invokes_and_the_stream_usage_chunk(
    emulator: Emulator, make_model: Callable[..., ChatCloudflareMistral], run: Runner
) -> None:
    model = make_model(session_affinity="cached")
    first = await run(model, PROMPT)
    second = await run(model, PROMPT)
    assert first.message.usage_metadata is not None
    assert first.message.usage_metadata["input_token_details"] == {"cache_read": 0}
    usage = second.message.usage_metadata
    assert usage is not None
    assert usage["input_token_details"] == {"cache_read": usage["input_tokens"]}
    if run.streams:
        with_usage = [c for c in second.chunks if c.usage_metadata is not None]
        assert len(with_usage) == 1
        assert with_usage[0].usage_metadata == usage
    metadata = second.message.response_metadata
    assert metadata["token_usage"]["prompt_tokens_details"] == {
        "cached_tokens": usage["input_tokens"]
    }


async def test_without_a_key_usage_has_no_cache_detail(
    emulator: Emulator, model: ChatCloudflareMistral, run: Runner
) -> None:
    reply = await run(model, PROMPT)
    assert reply.message.usage_metadata is not None
    assert "input_token_details" not in reply.message.usage_metadata


async def test_other_usage_keys_such_as_neurons_are_kept_in_response_metadata(
    emulator: Emulator, model: ChatCloudflareMistral, run: Runner
) -> None:
    usage = {
        "prompt_tokens": 9,
        "completion_tokens": 2,
        "total_tokens": 11,
        "neurons": 0.204805,
        "prompt_tokens_details": {"cached_tokens": 4},
    }
    emulator.script(text="Sunny.", usage=usage)
    reply = await run(model, PROMPT)
    assert reply.message.response_metadata["token_usage"] == usage
    assert reply.message.usage_metadata == {
        "input_tokens": 9,
        "output_tokens": 2,
        "total_tokens": 11,
        "input_token_details": {"cache_read": 4},
    }


CACHED_PRICE = cf.ModelPrice(
    input_usd_per_million=1.0, output_usd_per_million=3.0, cached_input_usd_per_million=0.1
)


@pytest.mark.parametrize(
    ("pricing", "expected"),
    [
        # The default table: no cached price published, so cached input is billed in full.
        (None, (100 * 0.35 + 10 * 0.56) / 1e6),
        ({cf.DEFAULT_MODEL: CACHED_PRICE}, (40 * 1.0 + 60 * 0.1 + 10 * 3.0) / 1e6),
    ],
    ids=["default", "cached-price"],
)
async def test_cost_prices_cached_input_at_the_cached_price_only_where_one_is_known(
    emulator: Emulator,
    make_model: Callable[..., ChatCloudflareMistral],
    run: Runner,
    pricing: Any,
    expected: float,
) -> None:
    usage = {"prompt_tokens": 100, "completion_tokens": 10}
    emulator.script(text="Sunny.", usage={**usage, "prompt_tokens_details": {"cached_tokens": 60}})
    reply = await run(make_model(pricing=pricing), PROMPT)
    assert reply.message.response_metadata["cost_usd"] == pytest.approx(expected)


def test_a_streamed_invoke_reports_cache_read(
    emulator: Emulator, make_model: Callable[..., ChatCloudflareMistral]
) -> None:
    model = make_model(session_affinity="merge", streaming=True)
    model.invoke(PROMPT)
    reply = model.invoke(PROMPT)  # streaming=True: langchain-core streams the invoke
    assert emulator.requests[-1].body["stream"] is True
    assert reply.usage_metadata is not None
    assert reply.usage_metadata["input_token_details"]["cache_read"] > 0


# -- langchain-cloudflare's names -----------------------------------------------------------


def test_langchain_cloudflare_argument_names_are_accepted(
    emulator: Emulator, connection: dict[str, Any]
) -> None:
    gateway = cf.AIGateway(gateway_id="gw", base_url=emulator.gateway_url)
    model = ChatCloudflareMistral(
        cloudflare_account_id=connection["account_id"],
        cloudflare_api_token=connection["api_token"],
        cloudflare_api_base=connection["base_url"],
        ai_gateway=gateway,
    )
    assert model.account_id == connection["account_id"]
    assert model.api_token is not None
    assert model.api_token.get_secret_value() == connection["api_token"]
    assert model.base_url == connection["base_url"]
    assert model.gateway == gateway
    assert model.invoke("Hi").text == "You said: Hi"
    assert emulator.requests[-1].route == "gateway"
    assert ChatCloudflareMistral(cloudflare_ai_gateway="gw", account_id="a").gateway == "gw"


def test_aliases_serialize_under_our_names(monkeypatch: pytest.MonkeyPatch) -> None:
    from langchain_core.load import dumpd, load

    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "env-token")
    model = ChatCloudflareMistral(
        cloudflare_account_id="acct",
        cloudflare_api_token="sekrit",
        ai_gateway="gw",
        session_affinity="thread-9",
    )
    dumped = model.model_dump(exclude={"http_client", "http_async_client"})
    assert (dumped["account_id"], dumped["gateway"], dumped["session_affinity"]) == (
        "acct",
        "gw",
        "thread-9",
    )
    assert not {"cloudflare_account_id", "cloudflare_api_token", "ai_gateway"} & set(dumped)
    data = dumpd(model)
    assert "sekrit" not in json.dumps(data)
    loaded = load(
        data,
        valid_namespaces=["langchain_cf_mistral"],
        allowed_objects=[ChatCloudflareMistral],
        secrets_from_env=True,
    )
    assert (loaded.account_id, loaded.gateway, loaded.session_affinity) == (
        "acct",
        "gw",
        "thread-9",
    )


def test_unknown_arguments_are_still_refused_with_the_new_name_when_there_is_one() -> None:
    with pytest.raises(
        ValueError, match=r"'cloudflare_acount_id' \(did you mean 'cloudflare_account_id'\?\)"
    ):
        ChatCloudflareMistral(cloudflare_acount_id="typo")
    with pytest.raises(ValueError, match=r"'session_id' \(use session_affinity"):
        ChatCloudflareMistral(account_id="a", session_id="thread")
    with pytest.raises(ValueError, match=r"'aig_max_attempts' \(use gateway=cf_mistral\.AIGateway"):
        ChatCloudflareMistral(account_id="a", aig_max_attempts=3)
    with pytest.raises(
        ValueError, match="'n' \\(no equivalent: Workers AI returns one reply per call"
    ):
        ChatCloudflareMistral(account_id="a", n=2)


def test_a_bad_session_affinity_is_refused_at_construction_and_per_call(
    emulator: Emulator, model: ChatCloudflareMistral
) -> None:
    with pytest.raises(ValueError, match="x-session-affinity"):
        ChatCloudflareMistral(account_id="a", session_affinity="two\nlines")
    with pytest.raises(cf.InvalidRequestError, match="x-session-affinity"):
        model.invoke("Hi", session_affinity="")
    assert emulator.requests == []
