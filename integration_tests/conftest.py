"""End-to-end tests: against the emulator by default, against the real API with credentials.

The one switch: set ``CLOUDFLARE_ACCOUNT_ID`` and ``CLOUDFLARE_API_TOKEN`` and the same tests
run against Workers AI itself. Tests that need the emulator's scripting or request recording
use the ``emulator_only`` fixture, which skips them on the real API.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from cf_mistral.emulator import Emulator

REAL_API = bool(os.environ.get("CLOUDFLARE_ACCOUNT_ID") and os.environ.get("CLOUDFLARE_API_TOKEN"))


@pytest.fixture(scope="session")
def live_server() -> Iterator[Emulator | None]:
    if REAL_API:
        yield None
        return
    with Emulator() as server:
        yield server


@pytest.fixture
def connection(live_server: Emulator | None) -> dict[str, Any]:
    """Keyword arguments for any cf-mistral class: the real API or the emulator."""
    if live_server is None:
        return {}  # credentials come from the environment
    live_server.reset()
    return {
        "account_id": live_server.account_id,
        "api_token": live_server.token,
        "base_url": live_server.base_url,
    }


@pytest.fixture
def emulator_only(live_server: Emulator | None) -> Emulator:
    if live_server is None:
        pytest.skip("needs the emulator's scripting / recording; running against the real API")
    return live_server
