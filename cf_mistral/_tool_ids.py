"""Mistral's tool-call id rule: exactly nine characters of ``[A-Za-z0-9]``.

Mistral's chat template and validators reject any other id, and a vLLM backend keeps only the
last nine characters of a longer one (so ``call_…`` ids collide or fail). Ids therefore cross
the wire only through :func:`to_mistral_tool_call_id`, a deterministic and stateless map:
the same foreign id gives the same nine characters in the assistant turn and in the tool
result, in any process, with no table to keep.
"""

from __future__ import annotations

import hashlib
import re
import secrets

__all__ = ["mint_tool_call_id", "to_mistral_tool_call_id"]

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_ID_LENGTH = 9
_VALID_ID = re.compile(r"[A-Za-z0-9]{9}")


def to_mistral_tool_call_id(tool_call_id: str) -> str:
    """Map any tool-call id to nine base62 characters; a valid id is kept as it is.

    >>> to_mistral_tool_call_id("call_JIIjI55tTipFFzpcP8re3BpM")
    '8kxAQvoED'
    >>> to_mistral_tool_call_id("ssAbar4Dr")
    'ssAbar4Dr'
    """
    if _VALID_ID.fullmatch(tool_call_id):
        return tool_call_id
    # The digest read as one big-endian number, written in base 62, most significant digit
    # first; its first nine digits are the id. (A 256-bit number has 43 base-62 digits.)
    number = int.from_bytes(hashlib.sha256(tool_call_id.encode("utf-8")).digest(), "big")
    digits = []
    while number:
        number, digit = divmod(number, 62)
        digits.append(_ALPHABET[digit])
    return "".join(reversed(digits))[:_ID_LENGTH]


def mint_tool_call_id(taken: set[str] | None = None) -> str:
    """A fresh random nine-character id, not in ``taken`` (which it then joins)."""
    while True:
        candidate = "".join(secrets.choice(_ALPHABET) for _ in range(_ID_LENGTH))
        if taken is None:
            return candidate
        if candidate not in taken:
            taken.add(candidate)
            return candidate
