"""Prompt-cache affinity and cached-token cost: the ``x-session-affinity`` header, per client and
per call, on the direct API and through AI Gateway, and the price table behind ``cost_usd``.
"""

from __future__ import annotations

from typing import Any

import pytest

from cf_mistral import (
    DEFAULT_MODEL,
    AIGateway,
    ChatRequest,
    InvalidRequestError,
    ModelPrice,
    StreamEnd,
    SystemMessage,
    Usage,
    UsageEvent,
    UserMessage,
    WorkersAIClient,
)
from cf_mistral.emulator import Emulator

from .helpers import Driver, DriverFactory

HEADER = "x-session-affinity"
SYSTEM = SystemMessage("You answer questions about the weather in one sentence. " * 8)


def _turn(text: str, key: str | None = None) -> ChatRequest:
    return ChatRequest(messages=[SYSTEM, UserMessage(text)], session_affinity=key)


def _gateways(emulator: Emulator) -> dict[str, Any]:
    return {
        "direct": None,
        "gateway-url": AIGateway(gateway_id="gw", base_url=emulator.gateway_url),
        "gateway-header": AIGateway(gateway_id="gw", mode="header"),
    }


@pytest.mark.parametrize("route", ["direct", "gateway-url", "gateway-header"])
async def test_the_client_key_is_a_header_on_every_route_and_never_in_the_body(
    emulator: Emulator, drive: DriverFactory, route: str
) -> None:
    driver = drive(session_affinity="thread-42", gateway=_gateways(emulator)[route])
    await driver.chat(_turn("Hello"))
    await driver.stream(_turn("Hello"))
    for recorded in emulator.requests:
        assert recorded.headers[HEADER] == "thread-42"
        assert "thread-42" not in recorded.raw.decode()
        assert "session_affinity" not in recorded.raw.decode()
    assert {r.route for r in emulator.requests} == {
        "gateway" if route == "gateway-url" else "native"
    }


async def test_a_per_call_key_wins_over_the_client_key_and_default_headers(
    emulator: Emulator, drive: DriverFactory
) -> None:
    driver = drive(session_affinity="client-key", default_headers={HEADER: "from-defaults"})
    await driver.chat(_turn("Hello", key="call-key"))
    await driver.stream(_turn("Hello", key="call-key"))
    await driver.chat(_turn("Hello"))
    sent = [r.headers[HEADER] for r in emulator.requests]
    # Without a per-call key, default_headers win over the option, as for every header.
    assert sent == ["call-key", "call-key", "from-defaults"]


async def test_default_headers_replace_the_option_whatever_their_case(
    emulator: Emulator, drive: DriverFactory
) -> None:
    driver = drive(session_affinity="client-key", default_headers={"X-Session-Affinity": "mine"})
    await driver.chat(_turn("Hello"))
    assert emulator.requests[0].headers[HEADER] == "mine"  # one value, not "client-key, mine"


async def test_without_a_key_no_header_is_sent(emulator: Emulator, driver: Driver) -> None:
    result = await driver.chat(_turn("Hello"))
    assert HEADER not in emulator.requests[0].headers
    assert result.usage is not None
    assert result.usage.cached_tokens == 0


@pytest.mark.parametrize("key", ["", "   ", "line\nbreak", "naïve", 42, "trailing ", " leading"])
def test_a_key_that_cannot_be_a_header_is_refused_before_sending(
    emulator: Emulator, connection: dict[str, Any], key: Any
) -> None:
    with pytest.raises(InvalidRequestError, match="session_affinity"):
        WorkersAIClient(**connection, session_affinity=key)
    with WorkersAIClient(**connection) as client, pytest.raises(InvalidRequestError, match="x-"):
        client.chat(_turn("Hello", key=key))
    assert emulator.requests == []


async def test_a_conversation_under_one_key_reports_its_cached_prefix(
    emulator: Emulator, drive: DriverFactory
) -> None:
    driver = drive(session_affinity="conversation-1")
    first = await driver.chat(_turn("What is the weather in Paris?"))
    events = await driver.stream(_turn("What is the weather in Rome?"))
    assert first.usage is not None
    assert first.usage.cached_tokens == 0
    (usage_event,) = [e for e in events if isinstance(e, UsageEvent)]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    # The system message and "What is the weather in" are shared; "Rome?" is not.
    shared = first.usage.prompt_tokens - 2
    assert usage_event.usage.cached_tokens == shared
    assert end.result.usage == usage_event.usage
    # Another key is another replica: nothing cached there.
    other = await driver.chat(_turn("What is the weather in Rome?", key="conversation-2"))
    assert other.usage is not None
    assert other.usage.cached_tokens == 0


async def test_cost_uses_the_pricing_table_and_its_cached_price(
    emulator: Emulator, drive: DriverFactory
) -> None:
    price = ModelPrice(
        input_usd_per_million=1.0, output_usd_per_million=2.0, cached_input_usd_per_million=0.5
    )
    driver = drive(session_affinity="priced", pricing={DEFAULT_MODEL: price})
    await driver.chat(_turn("Hello"))
    result = await driver.chat(_turn("Hello"))
    events = await driver.stream(_turn("Hello"))
    usage = result.usage
    assert usage is not None
    assert usage.cached_tokens == usage.prompt_tokens
    expected = (usage.cached_tokens * 0.5 + usage.completion_tokens * 2.0) / 1e6
    assert result.cost_usd == pytest.approx(expected)
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.result.cost_usd == pytest.approx(price.cost_usd(end.result.usage or Usage()))


async def test_the_default_price_charges_cached_input_in_full(
    emulator: Emulator, drive: DriverFactory
) -> None:
    driver = drive(session_affinity="unpriced-cache")
    await driver.chat(_turn("Hello"))
    result = await driver.chat(_turn("Hello"))
    assert result.usage is not None
    assert result.usage.cached_tokens > 0
    full = (result.usage.prompt_tokens * 0.35 + result.usage.completion_tokens * 0.56) / 1e6
    assert result.cost_usd == pytest.approx(full)


async def test_a_model_without_a_price_has_no_cost(
    emulator: Emulator, drive: DriverFactory
) -> None:
    other = "@cf/meta/llama-3.3-70b-instruct-fp8-fast"
    emulator.configure(models=(*emulator.config.models, other))
    result = await drive().chat(_turn("Hello"), model=other)
    assert result.usage is not None
    assert result.cost_usd is None
    priced = await drive(
        pricing={other: {"input_usd_per_million": 0.29, "output_usd_per_million": 2.25}}
    ).chat(_turn("Hello"), model=other)
    assert priced.cost_usd is not None
    assert priced.cost_usd > 0
