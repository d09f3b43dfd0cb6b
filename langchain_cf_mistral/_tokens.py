"""Prompt token counts: Mistral's Tekken tokenizer when installed, else an approximation.

With the ``tokenizer`` extra (``mistral-common``) text is counted exactly with Tekken, loaded
from the vocabulary mistral-common ships (no download). The count adds the chat template's
control tokens (``<s>``, ``[INST]``/``[/INST]``, ``[TOOL_CALLS]``, ``[TOOL_RESULTS]``, ...).
Without it, text counts as one token per four characters (rounded up), which is close for
English prose and low for code or non-Latin scripts. Images count as a fixed
:data:`IMAGE_TOKENS` (Pixtral's cost depends on the image size; large images cost more).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

import cf_mistral as cf

__all__ = ["IMAGE_TOKENS", "count_prompt_tokens", "count_text_tokens", "tekken_encoder"]

IMAGE_TOKENS = 1024
# Tekken vocabulary shipped in mistral-common (the 131k vocabulary Mistral Small 3.x uses).
_VOCABULARY = "tekken_240911.json"
_CHARS_PER_TOKEN = 4
# Control tokens around a turn: [INST]…[/INST] for user, </s> after an assistant turn,
# [TOOL_CALLS] before calls, [TOOL_RESULTS]…[/TOOL_RESULTS] around a result.
_USER_OVERHEAD = 2
_ASSISTANT_OVERHEAD = 1
_TOOL_CALL_OVERHEAD = 1
_TOOL_RESULT_OVERHEAD = 2
_TOOLS_OVERHEAD = 2


@lru_cache(maxsize=1)
def tekken_encoder() -> Callable[[str], list[int]] | None:
    """Tekken's ``encode`` (no BOS/EOS), or ``None`` when mistral-common is not installed."""
    try:
        from mistral_common.tokens.tokenizers.tekken import Tekkenizer
    except ImportError:
        return None
    try:
        path = resources.files("mistral_common").joinpath("data").joinpath(_VOCABULARY)
        with resources.as_file(path) as file:
            tokenizer = Tekkenizer.from_file(file)
    except (OSError, ValueError):
        return None

    def encode(text: str) -> list[int]:
        ids: list[int] = tokenizer.encode(text, bos=False, eos=False)
        return ids

    return encode


def count_text_tokens(text: str) -> int:
    """Tokens of ``text`` alone: Tekken when available, else ``ceil(len / 4)``."""
    if not text:
        return 0
    encode = tekken_encoder()
    if encode is not None:
        return len(encode(text))
    return math.ceil(len(text) / _CHARS_PER_TOKEN)


def _content_tokens(content: str | Sequence[cf.ContentPart]) -> int:
    if isinstance(content, str):
        return count_text_tokens(content)
    total = 0
    for part in content:
        if isinstance(part, cf.TextPart):
            total += count_text_tokens(part.text)
        else:
            total += IMAGE_TOKENS
    return total


def count_prompt_tokens(messages: Sequence[cf.Message], tools: Sequence[cf.ToolDefinition]) -> int:
    """The prompt tokens of a conversation and its tools, template tokens included."""
    total = 1  # <s>
    if tools:
        listing: list[dict[str, Any]] = [
            {"name": t.name, "description": t.description, "parameters": dict(t.parameters)}
            for t in tools
        ]
        total += _TOOLS_OVERHEAD + count_text_tokens(json.dumps(listing, ensure_ascii=False))
    for message in messages:
        if isinstance(message, (cf.SystemMessage, cf.UserMessage)):
            total += _USER_OVERHEAD + _content_tokens(message.content)
        elif isinstance(message, cf.AssistantMessage):
            total += _ASSISTANT_OVERHEAD + count_text_tokens(message.content)
            for call in message.tool_calls:
                text = json.dumps(
                    {"name": call.name, "arguments": dict(call.arguments)}, ensure_ascii=False
                )
                total += _TOOL_CALL_OVERHEAD + count_text_tokens(text)
        else:
            total += _TOOL_RESULT_OVERHEAD + count_text_tokens(message.content)
    return total
