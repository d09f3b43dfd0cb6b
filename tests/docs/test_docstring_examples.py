"""The examples in the core clients' docstrings run, in order, against the emulator.

(The adapters' docstring examples are run by their own test suites.)
"""

from __future__ import annotations

import inspect
import textwrap

import pytest

from cf_mistral import AsyncWorkersAIClient, WorkersAIClient
from cf_mistral.emulator import Emulator


def literal_blocks(docstring: str) -> list[str]:
    """The code of each ``::`` literal block of a docstring."""
    lines = inspect.cleandoc(docstring).splitlines()
    blocks: list[str] = []
    index = 0
    while index < len(lines):
        if not lines[index].rstrip().endswith("::"):
            index += 1
            continue
        end = index + 1
        while end < len(lines) and (not lines[end].strip() or lines[end].startswith(" ")):
            end += 1
        blocks.append(textwrap.dedent("\n".join(lines[index + 1 : end])))
        index = end
    return blocks


@pytest.mark.parametrize("cls", [WorkersAIClient, AsyncWorkersAIClient])
def test_client_docstring_examples_run(
    cls: type, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", emulator.account_id)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", emulator.token)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", emulator.base_url)
    blocks = literal_blocks(cls.__doc__ or "")
    assert blocks, f"{cls.__name__} has no example"
    namespace: dict[str, object] = {"__name__": "docstring_example"}
    for block in blocks:
        exec(compile(block, f"<{cls.__name__} docstring>", "exec"), namespace)
    assert emulator.requests, "the examples sent nothing"
    assert all(request.status == 200 for request in emulator.requests)
