"""Token counts through the chat model (the core's Tekken), the public surface, import cost."""

from __future__ import annotations

import doctest
import math
import subprocess
import sys
import types

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

import cf_mistral
import langchain_cf_mistral
from cf_mistral import _tokens as tokens
from langchain_cf_mistral import ChatCloudflareMistral


@pytest.fixture
def model() -> ChatCloudflareMistral:
    return ChatCloudflareMistral(account_id="a", api_token="t")


def test_tekken_counts_text_offline(model: ChatCloudflareMistral) -> None:
    encode = tokens._tekken_encoder()
    assert encode is not None, "mistral-common is a dev dependency; its vocabulary is packaged"
    assert model.get_num_tokens("Hello there, how are you?") == 7
    # <s> + [INST] + "Hello there, how are you?" + [/INST]
    assert model.get_num_tokens_from_messages([HumanMessage("Hello there, how are you?")]) == 10


def test_prompt_count_covers_every_turn_and_tool(model: ChatCloudflareMistral) -> None:
    history = [
        SystemMessage("Be brief."),
        HumanMessage("Weather in Paris?"),
        AIMessage("", tool_calls=[{"id": "a", "name": "weather", "args": {"city": "Paris"}}]),
        ToolMessage("sunny", tool_call_id="a"),
    ]
    without_tools = model.get_num_tokens_from_messages(history)
    with_tools = model.get_num_tokens_from_messages(
        history, tools=[{"name": "weather", "description": "d", "parameters": {"type": "object"}}]
    )
    assert with_tools > without_tools > model.get_num_tokens_from_messages(history[:2])


def test_without_mistral_common_counts_four_characters_per_token(
    model: ChatCloudflareMistral, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tokens, "_tekken_encoder", lambda: None)
    text = "x" * 41
    assert model.get_num_tokens(text) == math.ceil(41 / 4)
    assert model.get_num_tokens_from_messages([HumanMessage(text)]) == 1 + 2 + 11


def test_the_token_counting_docstring_example_runs() -> None:
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner()
    method = ChatCloudflareMistral.get_num_tokens_from_messages
    for test in finder.find(method, name=method.__name__):
        runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.attempted > 0
    assert results.failed == 0


def test_all_is_sorted_complete_and_versioned() -> None:
    exported = langchain_cf_mistral.__all__
    assert exported == sorted(exported)
    assert langchain_cf_mistral.__version__ == cf_mistral.__version__
    public = {
        name
        for name, value in vars(langchain_cf_mistral).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public <= set(exported)
    for name in exported:
        value = getattr(langchain_cf_mistral, name)
        if isinstance(value, type):
            assert value.__module__ == "langchain_cf_mistral"


def test_import_loads_no_heavy_module() -> None:
    # The import-time budget itself is measured by `make bench`. What the frameworks' own base
    # modules load is theirs (llama-index-core 0.14.5 imports httpx): only what ours add counts.
    code = (
        "import sys\n"
        "import langchain_core.language_models, llama_index.core.llms\n"
        "before = set(sys.modules)\n"
        "import langchain_cf_mistral, llama_index_cf_mistral\n"
        "heavy = ('httpx', 'mistral_common', 'langgraph', 'langchain')\n"
        "print(','.join(m for m in heavy if m in sys.modules and m not in before))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split("\n")
    assert out[0] == ""
