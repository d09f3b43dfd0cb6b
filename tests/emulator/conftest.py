"""Emulator-test fixtures; the server itself (``emulator``) comes from ``tests/conftest.py``."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from cf_mistral.emulator import Emulator


@pytest.fixture
def client(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(headers=emulator.headers, timeout=10) as c:
        yield c


@pytest.fixture(autouse=True)
def _every_wire_body_is_clean() -> None:
    """These tests send bad bodies on purpose, to the emulator as configured by each test."""
