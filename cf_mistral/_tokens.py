"""Token counts: Mistral's Tekken tokenizer when installed, else an approximation.

With the ``tokenizer`` extra (``pip install "cf-mistral[tokenizer]"``, which brings
``mistral-common``) text is counted exactly with Tekken, loaded from the vocabulary
mistral-common ships (no download). A prompt's count adds the chat template's control tokens
(``<s>``, ``[INST]``/``[/INST]``, ``[TOOL_CALLS]``, ``[TOOL_RESULTS]``, ...).

Without it, text counts as one token per four characters (rounded up), which is close for
English prose and low for code or non-Latin scripts; the first count logs once that it is an
approximation. Images count as a fixed 1,024 tokens (Pixtral's cost depends on the image
size; large images cost more).

Both adapters count with these functions: LangChain's ``get_num_tokens*`` call them, and
:func:`tokenize` has the ``Callable[[str], list]`` shape LlamaIndex takes as
``Settings.tokenizer`` or ``TokenCountingHandler(tokenizer=...)``.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

from cf_mistral._types import (
    AssistantMessage,
    ContentPart,
    Message,
    SystemMessage,
    TextPart,
    ToolDefinition,
    UserMessage,
)

__all__ = ["count_prompt_tokens", "count_text_tokens", "tokenize"]

_logger = logging.getLogger("cf_mistral")

_IMAGE_TOKENS = 1024
# Tekken vocabulary shipped in mistral-common (the 131k vocabulary Mistral Small 3.x uses).
_VOCABULARY = "tekken_240911.json"
_CHARS_PER_TOKEN = 4
# The id each approximate token gets: only the length of an approximate tokenization means
# anything, and 0 is Tekken's <unk>, which no real encoding of text produces.
_PLACEHOLDER_ID = 0
# Control tokens around a turn: [INST]…[/INST] for user, </s> after an assistant turn,
# [TOOL_CALLS] before calls, [TOOL_RESULTS]…[/TOOL_RESULTS] around a result.
_USER_OVERHEAD = 2
_ASSISTANT_OVERHEAD = 1
_TOOL_CALL_OVERHEAD = 1
_TOOL_RESULT_OVERHEAD = 2
_TOOLS_OVERHEAD = 2


@lru_cache(maxsize=1)
def _tekken_encoder() -> Callable[[str], list[int]] | None:
    """Tekken's ``encode`` (no BOS/EOS), or ``None`` when mistral-common is not installed."""
    try:
        from mistral_common.tokens.tokenizers.tekken import Tekkenizer
    except ImportError:
        _logger.info(
            "mistral-common is not installed: token counts are approximate (four characters "
            'per token). For exact counts: pip install "cf-mistral[tokenizer]"'
        )
        return None
    try:
        path = resources.files("mistral_common").joinpath("data").joinpath(_VOCABULARY)
        with resources.as_file(path) as file:
            tokenizer = Tekkenizer.from_file(file)
    except (OSError, ValueError) as error:
        _logger.warning(
            "mistral-common's Tekken vocabulary %s could not be loaded (%s): token counts are "
            "approximate (four characters per token).",
            _VOCABULARY,
            error,
        )
        return None

    def encode(text: str) -> list[int]:
        ids: list[int] = tokenizer.encode(text, bos=False, eos=False)
        return ids

    return encode


def tokenize(text: str) -> list[int]:
    """The Tekken token ids of ``text`` (no ``<s>``/``</s>``), as LlamaIndex's tokenizer.

    Exact with the ``tokenizer`` extra. Without it, the list holds one placeholder id (``0``)
    per four characters, rounded up: its length is the approximate count, its ids mean
    nothing.

    Its shape, ``Callable[[str], list]``, is the one LlamaIndex takes as ``Settings.tokenizer``
    or ``TokenCountingHandler(tokenizer=...)``.

    >>> from cf_mistral import tokenize
    >>> len(tokenize("Hello there, how are you?"))
    7
    >>> tokenize("")
    []
    """
    if not text:
        return []
    encode = _tekken_encoder()
    if encode is not None:
        return encode(text)
    return [_PLACEHOLDER_ID] * math.ceil(len(text) / _CHARS_PER_TOKEN)


def count_text_tokens(text: str) -> int:
    """Tokens of ``text`` alone: Tekken when available, else ``ceil(len(text) / 4)``.

    >>> from cf_mistral import count_text_tokens
    >>> count_text_tokens("Hello there, how are you?")
    7
    """
    return len(tokenize(text))


def _content_tokens(content: str | Sequence[ContentPart]) -> int:
    if isinstance(content, str):
        return count_text_tokens(content)
    total = 0
    for part in content:
        if isinstance(part, TextPart):
            total += count_text_tokens(part.text)
        else:
            total += _IMAGE_TOKENS
    return total


def count_prompt_tokens(messages: Sequence[Message], tools: Sequence[ToolDefinition] = ()) -> int:
    """The prompt tokens of a conversation and its tools, the template's tokens included.

    Images count 1,024 tokens each.

    >>> from cf_mistral import UserMessage, count_prompt_tokens
    >>> count_prompt_tokens([UserMessage("Hello there, how are you?")])  # <s>[INST]…[/INST]
    10
    """
    total = 1  # <s>
    if tools:
        listing: list[dict[str, Any]] = [
            {"name": t.name, "description": t.description, "parameters": dict(t.parameters)}
            for t in tools
        ]
        total += _TOOLS_OVERHEAD + count_text_tokens(json.dumps(listing, ensure_ascii=False))
    for message in messages:
        if isinstance(message, (SystemMessage, UserMessage)):
            total += _USER_OVERHEAD + _content_tokens(message.content)
        elif isinstance(message, AssistantMessage):
            total += _ASSISTANT_OVERHEAD + count_text_tokens(message.content)
            for call in message.tool_calls:
                text = json.dumps(
                    {"name": call.name, "arguments": dict(call.arguments)}, ensure_ascii=False
                )
                total += _TOOL_CALL_OVERHEAD + count_text_tokens(text)
        else:
            total += _TOOL_RESULT_OVERHEAD + count_text_tokens(message.content)
    return total
