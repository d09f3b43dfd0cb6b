"""Fixtures of the reliability suite: one emulator per concurrent lane.

Faults are queued per emulator (FIFO), so paths that run at the same time each get their own
emulator ('lane'): the fault a path receives is then exactly the one queued for it, and the
cells of a matrix row run concurrently instead of one after another.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cf_mistral.emulator import Emulator

# One per path, so a whole matrix row runs at once.
LANES = 12


@pytest.fixture(scope="session")
def lane_servers() -> Iterator[list[Emulator]]:
    servers = [Emulator().start() for _ in range(LANES)]
    try:
        yield servers
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def lanes(lane_servers: list[Emulator]) -> Iterator[list[Emulator]]:
    for server in lane_servers:
        server.reset()
    yield lane_servers
    for server in lane_servers:
        server.reset()
