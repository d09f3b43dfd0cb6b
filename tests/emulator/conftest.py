"""Shared emulator fixtures (session-scoped server, reset between tests)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from cf_mistral.emulator import Emulator


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[Emulator]:
    with Emulator() as emu:
        yield emu


@pytest.fixture
def emulator(emulator_server: Emulator) -> Iterator[Emulator]:
    emulator_server.reset()
    yield emulator_server
    emulator_server.reset()


@pytest.fixture
def client(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(headers=emulator.headers, timeout=10) as c:
        yield c
