"""Fixtures of the transport-core tests.

``drive`` runs one test body against the sync and the async client alike: it is parametrized
over both, and its :class:`Driver` awaits the async client or calls the sync one. Every wire
body the emulator records during a test is checked against the rules of the issue (no nulls,
no key outside the model schema, no ``tool_choice`` / ``response_format``, ``max_tokens``
always explicit), so every client test is also a test of request building.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from .helpers import Driver, DriverFactory, LoopbackServer


@pytest.fixture(params=[True, False], ids=["sync", "async"])
async def drive(
    request: pytest.FixtureRequest, connection: dict[str, Any]
) -> AsyncIterator[DriverFactory]:
    """``drive(**client_options)`` → a :class:`Driver` for the sync, then the async client."""
    factory = DriverFactory(request.param, connection)
    yield factory
    for driver in factory.made:
        await driver.close()


@pytest.fixture
async def driver(drive: DriverFactory) -> Driver:
    """A driver with the default test options (no retries, short timeouts)."""
    return drive()


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    """A raw loopback HTTP server (:class:`LoopbackServer`), closed after the test."""
    server = LoopbackServer()
    yield server
    server.close()
