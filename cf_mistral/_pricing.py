"""The published price of ``@cf/mistralai/mistral-small-3.1-24b-instruct``."""

from __future__ import annotations

__all__ = ["INPUT_USD_PER_MILLION", "OUTPUT_USD_PER_MILLION", "estimate_cost_usd"]

INPUT_USD_PER_MILLION = 0.35
OUTPUT_USD_PER_MILLION = 0.56


def estimate_cost_usd(prompt_tokens: int, completion_tokens: int) -> float:
    """Estimated cost of one call in US dollars, from the model's published token prices."""
    return (
        prompt_tokens * INPUT_USD_PER_MILLION + completion_tokens * OUTPUT_USD_PER_MILLION
    ) / 1_000_000
