"""The examples in CloudflareMistral's docstring run, against the emulator."""

from __future__ import annotations

import doctest

import pytest

import llama_index_cf_mistral
from cf_mistral.emulator import Emulator
from llama_index_cf_mistral import CloudflareMistral


@pytest.mark.parametrize("target", [CloudflareMistral, llama_index_cf_mistral])
def test_docstring_examples_run(
    target: object, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
):
    # The examples read their credentials from the environment, as a user's would.
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", emulator.account_id)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", emulator.token)
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", emulator.base_url)
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)

    for test in finder.find(target, name=getattr(target, "__name__", "target")):
        runner.run(test)

    assert runner.summarize(verbose=False).failed == 0
    assert runner.summarize(verbose=False).attempted > 0
    assert emulator.requests or target is llama_index_cf_mistral
