"""``max_connections``: the client's own pool opens at most that many and keeps them all alive."""

from __future__ import annotations

import asyncio
from typing import Any

import pydantic
import pytest

from cf_mistral import AsyncWorkersAIClient, ChatRequest, ClientConfig, UserMessage, WorkersAIClient
from cf_mistral.emulator import Emulator


def test_max_connections_defaults_to_100_and_must_be_positive() -> None:
    assert ClientConfig.build().max_connections == 100
    assert ClientConfig.build(max_connections=1000).max_connections == 1000
    with pytest.raises(pydantic.ValidationError, match="max_connections"):
        ClientConfig.build(max_connections=0)


def test_a_source_that_lacks_a_setting_fails_instead_of_dropping_it() -> None:
    # The adapters declare every setting as a field; one they forgot must not pass unnoticed.
    class Fields:
        account_id = "acct"
        api_token = "token"

    with pytest.raises(AttributeError):
        ClientConfig.from_fields(Fields())


async def test_async_pool_opens_at_most_max_connections_and_keeps_them(
    emulator: Emulator, connection: dict[str, Any]
) -> None:
    emulator.configure(latency=0.1)
    name = "max-connections-async"
    client = AsyncWorkersAIClient(
        **connection, max_connections=4, default_headers={"X-Emulator-Client": name}
    )
    request = ChatRequest(messages=[UserMessage("hi")])
    async with client:
        for _ in range(2):  # the second burst finds the first one's connections
            await asyncio.gather(*(client.chat(request) for _ in range(10)))
    assert emulator.connections["by_client"][name] == 4


def test_sync_pool_keeps_every_connection_alive(
    emulator: Emulator, connection: dict[str, Any]
) -> None:
    name = "max-connections-sync"
    with WorkersAIClient(
        **connection, max_connections=2, default_headers={"X-Emulator-Client": name}
    ) as client:
        for _ in range(3):
            client.chat(ChatRequest(messages=[UserMessage("hi")]))
    assert emulator.connections["by_client"][name] == 1
