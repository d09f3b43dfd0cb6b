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
from tests.core.helpers import assert_clean_wire_body


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[Emulator]:
    with Emulator() as server:
        yield server


@pytest.fixture
def emulator(emulator_server: Emulator) -> Iterator[Emulator]:
    emulator_server.reset()
    yield emulator_server
    emulator_server.reset()


@pytest.fixture(autouse=True)
def _every_wire_body_is_clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used the emulator, check each body it recorded (before the reset).

    The emulator is also the strictest server we know how to be (undeclared keys and tool
    properties without descriptions refused): the client must pass it on every request. The
    emulator's own tests, which send bad bodies on purpose, override this fixture.
    """
    if "emulator" not in request.fixturenames:
        yield
        return
    emulator: Emulator = request.getfixturevalue("emulator")
    emulator.configure(reject_undeclared_keys=True, validate_tool_property_descriptions=True)
    yield
    for recorded in emulator.requests:
        if recorded.route in ("native", "gateway") and recorded.body is not None:
            assert_clean_wire_body(recorded.body)


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
