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

from cf_mistral.emulator import Emulator

from .helpers import Driver, DriverFactory, assert_clean_wire_body


@pytest.fixture(autouse=True)
def _every_wire_body_is_clean(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used the emulator, check each body it recorded (before the reset)."""
    if "emulator" not in request.fixturenames:
        yield
        return
    emulator: Emulator = request.getfixturevalue("emulator")
    # The strictest server we know how to be: the client must pass it on every request.
    emulator.configure(reject_undeclared_keys=True, validate_tool_property_descriptions=True)
    yield
    for recorded in emulator.requests:
        if recorded.route in ("native", "gateway") and recorded.body is not None:
            assert_clean_wire_body(recorded.body)


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
