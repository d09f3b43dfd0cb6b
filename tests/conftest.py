"""Fixtures shared by every offline test: one emulator per test session, reset per test.

Tests talk to a real HTTP server on 127.0.0.1 (the bundled emulator); nothing of cf-mistral is
mocked. ``emulator.script(...)`` queues replies, ``emulator.fault(...)`` queues faults, and
``emulator.requests`` holds the wire bodies the server received.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from cf_mistral import AsyncWorkersAIClient, WorkersAIClient
from cf_mistral.emulator import Emulator


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[Emulator]:
    with Emulator() as server:
        yield server


@pytest.fixture
def emulator(emulator_server: Emulator) -> Iterator[Emulator]:
    emulator_server.reset()
    yield emulator_server
    emulator_server.reset()


@pytest.fixture
def connection(emulator: Emulator) -> dict[str, Any]:
    """Keyword arguments that point any cf-mistral class at the emulator."""
    return {
        "account_id": emulator.account_id,
        "api_token": emulator.token,
        "base_url": emulator.base_url,
    }


@pytest.fixture
def core_client(connection: dict[str, Any]) -> Iterator[WorkersAIClient]:
    with WorkersAIClient(**connection, timeout={"stream_idle": 5, "read": 10}) as client:
        yield client


@pytest.fixture
async def async_core_client(connection: dict[str, Any]) -> AsyncIterator[AsyncWorkersAIClient]:
    async with AsyncWorkersAIClient(**connection, timeout={"stream_idle": 5, "read": 10}) as client:
        yield client
