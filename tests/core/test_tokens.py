"""Token counts: exact with Tekken (mistral-common, a dev dependency), else 4 characters a token."""

from __future__ import annotations

import doctest
import logging
import math
import sys
from collections.abc import Iterator

import pytest

from cf_mistral import (
    AssistantMessage,
    ImagePart,
    SystemMessage,
    TextPart,
    ToolCall,
    ToolDefinition,
    ToolMessage,
    UserMessage,
    count_prompt_tokens,
    count_text_tokens,
    tokenize,
)
from cf_mistral import _tokens as tokens

WEATHER = ToolDefinition(
    name="weather", description="The weather in a city.", parameters={"type": "object"}
)


@pytest.fixture
def approximate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counting as it does when mistral-common is not installed."""
    monkeypatch.setattr(tokens, "_tekken_encoder", lambda: None)


def test_tekken_is_available_offline() -> None:
    assert tokens._tekken_encoder() is not None, "mistral-common's vocabulary is packaged"


def test_tokenize_gives_tekken_ids_without_bos_or_eos() -> None:
    ids = tokenize("Hello there, how are you?")
    assert len(ids) == 7
    assert all(isinstance(i, int) and i >= 1000 for i in ids)  # no control token (ids < 1000)
    assert tokenize("") == []


def test_text_count_is_the_length_of_its_tokenization() -> None:
    text = "Bonjour, où est la gare ? 東京駅はどこですか"
    assert count_text_tokens(text) == len(tokenize(text)) > 0
    assert count_text_tokens("") == 0


def test_prompt_count_adds_the_template_tokens() -> None:
    # <s> + [INST] + text + [/INST]
    assert count_prompt_tokens([UserMessage("Hello there, how are you?")]) == 1 + 2 + 7


def test_prompt_count_covers_every_turn_and_tool() -> None:
    history = [
        SystemMessage("Be brief."),
        UserMessage("Weather in Paris?"),
        AssistantMessage("", tool_calls=[ToolCall("a", "weather", {"city": "Paris"})]),
        ToolMessage(tool_call_id="a", content="sunny"),
    ]
    without_tools = count_prompt_tokens(history)
    with_tools = count_prompt_tokens(history, [WEATHER])
    assert with_tools > without_tools > count_prompt_tokens(history[:2])


def test_an_image_counts_a_fixed_estimate() -> None:
    text_only = count_prompt_tokens([UserMessage([TextPart("What is this?")])])
    with_image = count_prompt_tokens(
        [UserMessage([TextPart("What is this?"), ImagePart("data:image/png;base64,AAAA")])]
    )
    assert with_image - text_only == 1024


@pytest.mark.usefixtures("approximate")
def test_without_mistral_common_four_characters_count_one_token() -> None:
    text = "x" * 41
    assert count_text_tokens(text) == math.ceil(41 / 4)
    assert tokenize(text) == [0] * 11  # placeholder ids: only the length means anything
    assert count_prompt_tokens([UserMessage(text)]) == 1 + 2 + 11


@pytest.fixture
def without_mistral_common(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """mistral-common made unimportable, and the cached encoder forgotten before and after."""
    monkeypatch.setitem(sys.modules, "mistral_common.tokens.tokenizers.tekken", None)
    tokens._tekken_encoder.cache_clear()
    yield
    tokens._tekken_encoder.cache_clear()


@pytest.mark.usefixtures("without_mistral_common")
def test_the_approximation_is_announced_once_with_the_install_command(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="cf_mistral"):
        assert count_text_tokens("x" * 8) == 2
        assert count_text_tokens("y" * 8) == 2
    notes = [r.getMessage() for r in caplog.records if "mistral-common" in r.getMessage()]
    assert len(notes) == 1
    assert 'pip install "cf-mistral[tokenizer]"' in notes[0]


def test_docstring_examples_run() -> None:
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner()
    # One by one: the exports are presented as cf_mistral.X, which a module-wide search skips.
    for function in (tokenize, count_text_tokens, count_prompt_tokens):
        for test in finder.find(function, name=function.__name__):
            runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.failed == 0
    assert results.attempted >= 4, "every public function shows an example"
