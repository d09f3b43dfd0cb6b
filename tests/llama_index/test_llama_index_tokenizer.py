"""Mistral's tokenizer in LlamaIndex: as ``Settings.tokenizer`` and in ``TokenCountingHandler``."""

from __future__ import annotations

from typing import Any

import llama_index.core
import pytest
from llama_index.core import Settings
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.callbacks import CallbackManager, TokenCountingHandler
from llama_index.core.node_parser import TokenTextSplitter
from llama_index.core.utilities.token_counting import TokenCounter

from cf_mistral import count_text_tokens, tokenize
from cf_mistral.emulator import Emulator
from llama_index_cf_mistral import CloudflareMistral

CHAT = [
    ChatMessage(role="system", content="Answer in one sentence."),
    ChatMessage(role="user", content="Où se trouve la tour Eiffel ? Réponds brièvement."),
]
# Zero counts from the server: TokenCountingHandler then counts with its tokenizer.
NO_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


@pytest.fixture
def mistral_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """``Settings.tokenizer = tokenize`` for one test; LlamaIndex's global restored after."""
    monkeypatch.setattr(llama_index.core, "global_tokenizer", None)
    Settings.tokenizer = tokenize


def test_the_llm_offers_the_cores_tokenizer(llm: CloudflareMistral) -> None:
    assert llm.tokenizer is tokenize


@pytest.mark.usefixtures("mistral_settings")
def test_settings_take_the_tokenizer_as_it_is() -> None:
    assert Settings.tokenizer is tokenize


@pytest.mark.usefixtures("mistral_settings")
async def test_token_counting_handler_counts_a_chat_with_tekken(
    calls: Any, emulator: Emulator
) -> None:
    counter = TokenCountingHandler(tokenizer=calls.llm.tokenizer)
    calls.llm.callback_manager = CallbackManager([counter])
    emulator.script(text="Elle est à Paris, sur le Champ-de-Mars.", usage=NO_USAGE)

    response = await calls.chat(CHAT)

    assert counter.completion_llm_token_count == count_text_tokens(str(response)) > 0
    # LlamaIndex's own per-message estimate, over Tekken counts (Settings.tokenizer).
    expected_prompt = TokenCounter(tokenizer=tokenize).estimate_tokens_in_messages(CHAT)
    assert counter.prompt_llm_token_count == expected_prompt
    assert expected_prompt != TokenCounter(tokenizer=list).estimate_tokens_in_messages(CHAT)


async def test_the_servers_counts_still_win_over_the_tokenizer(
    calls: Any, emulator: Emulator
) -> None:
    counter = TokenCountingHandler(tokenizer=tokenize)
    calls.llm.callback_manager = CallbackManager([counter])
    emulator.script(text="Paris.", usage={"prompt_tokens": 321, "completion_tokens": 3})

    await calls.chat(CHAT)

    assert (counter.prompt_llm_token_count, counter.completion_llm_token_count) == (321, 3)


def test_a_splitter_cuts_by_tekken_tokens() -> None:
    text = " ".join(f"Phrase numéro {n} : la tour Eiffel mesure 330 mètres." for n in range(60))
    splitter = TokenTextSplitter(chunk_size=64, chunk_overlap=0, tokenizer=tokenize)

    chunks = splitter.split_text(text)

    assert len(chunks) > 1
    assert all(count_text_tokens(chunk) <= 64 for chunk in chunks)
