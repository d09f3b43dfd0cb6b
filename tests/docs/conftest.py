"""The documentation examples get an emulator of their own.

The shared ``emulator`` fixture is reset before every test; a page's examples script the
emulator in one block and call it in the next, with other tests possibly running in between
on the same worker, so they need a server nobody else resets.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cf_mistral.emulator import Emulator


@pytest.fixture(scope="session")
def docs_emulator() -> Iterator[Emulator]:
    with Emulator() as server:
        yield server
