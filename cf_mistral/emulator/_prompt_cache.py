"""The emulator's stand-in for Workers AI's prompt cache (WIRE-FORMAT §3.6).

Workers AI routes calls that carry the same ``x-session-affinity`` key to one replica, which
serves a repeated prompt prefix from its cache and reports that part as
``usage.prompt_tokens_details.cached_tokens``. The emulator keeps, per key, the last prompt it
saw and reports the tokens a new prompt shares with it from the start, so cache accounting can
be tested offline. The state is bounded (keys and characters), the least recently used key
going first: a long soak with a fresh key per call must not grow the emulator without end.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from ._model import token_list

__all__ = ["PromptCache"]

# Enough for every conversation of a test run; characters bound the memory (a full 128k-token
# context is about half a million characters).
DEFAULT_MAX_KEYS = 1024
DEFAULT_MAX_CHARS = 16 * 1024 * 1024


class PromptCache:
    """Per affinity key, the last prompt seen; :meth:`cached_tokens` reports the shared prefix."""

    def __init__(
        self, max_keys: int = DEFAULT_MAX_KEYS, max_chars: int = DEFAULT_MAX_CHARS
    ) -> None:
        self._lock = threading.Lock()
        self._prompts: OrderedDict[str, str] = OrderedDict()
        self._chars = 0
        self.max_keys = max_keys
        self.max_chars = max_chars

    def cached_tokens(self, key: str, prompt: str) -> int:
        """Tokens at the start of ``prompt`` shared with the last prompt under ``key``; then
        ``prompt`` becomes that last prompt."""
        with self._lock:
            previous = self._prompts.pop(key, None)
            if previous is not None:
                self._chars -= len(previous)
            if len(prompt) <= self.max_chars:
                self._prompts[key] = prompt
                self._chars += len(prompt)
            while len(self._prompts) > self.max_keys or self._chars > self.max_chars:
                _, evicted = self._prompts.popitem(last=False)
                self._chars -= len(evicted)
        if not previous:
            return 0
        shared = 0
        for old, new in zip(token_list(previous), token_list(prompt), strict=False):
            if old != new:
                break
            shared += 1
        return shared

    def __len__(self) -> int:
        with self._lock:
            return len(self._prompts)

    def clear(self) -> None:
        with self._lock:
            self._prompts.clear()
            self._chars = 0
