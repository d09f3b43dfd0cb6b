"""Token prices, as a table users can override, and the cost of a call from its usage.

Cloudflare publishes a price per model on the model's page (and in its machine-readable
catalog entry, packaged here as ``_data/model-schema.json``): for
``@cf/mistralai/mistral-small-3.1-24b-instruct``, $0.35 per million input tokens and $0.56 per
million output tokens. Models that serve a repeated prompt prefix from cache list a lower
"cached input" price beside the input price; none is published for this model, so its cached
input is priced as input. A cost is an estimate that is never below the bill for lack of data:
cached tokens are discounted only where a cached price is known. Cloudflare changes prices;
pass ``pricing={model: ModelPrice(...)}`` to a client or adapter to use your own.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from cf_mistral._schema import DEFAULT_MODEL

if TYPE_CHECKING:
    from cf_mistral._types import Usage

__all__ = [
    "DEFAULT_PRICING",
    "INPUT_USD_PER_MILLION",
    "OUTPUT_USD_PER_MILLION",
    "ModelPrice",
    "estimate_cost_usd",
    "price_for",
]

INPUT_USD_PER_MILLION = 0.35
OUTPUT_USD_PER_MILLION = 0.56
_MODEL_PAGE = "https://developers.cloudflare.com/workers-ai/models/mistral-small-3.1-24b-instruct/"


class ModelPrice(BaseModel):
    """A model's token prices in US dollars per million tokens.

    ``cached_input_usd_per_million`` is the price of prompt tokens served from the prompt
    cache; ``None`` when none is published, and cached tokens then cost as much as other
    input (an estimate never below the bill). ``source`` says where the figures come from.

    >>> price = ModelPrice(input_usd_per_million=1.0, output_usd_per_million=2.0,
    ...                    cached_input_usd_per_million=0.25)
    >>> from cf_mistral import Usage
    >>> round(price.cost_usd(Usage(1_000_000, 0, 1_000_000, cached_tokens=400_000)), 2)
    0.7
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_usd_per_million: float = Field(ge=0)
    output_usd_per_million: float = Field(ge=0)
    cached_input_usd_per_million: float | None = Field(default=None, ge=0)
    source: str = ""

    def cost_usd(self, usage: Usage) -> float:
        """The estimated cost of ``usage`` at these prices."""
        cached = min(usage.cached_tokens, usage.prompt_tokens)
        cached_price = (
            self.input_usd_per_million
            if self.cached_input_usd_per_million is None
            else self.cached_input_usd_per_million
        )
        return (
            (usage.prompt_tokens - cached) * self.input_usd_per_million
            + cached * cached_price
            + usage.completion_tokens * self.output_usd_per_million
        ) / 1_000_000


DEFAULT_PRICING: Mapping[str, ModelPrice] = MappingProxyType(
    {
        DEFAULT_MODEL: ModelPrice(
            input_usd_per_million=INPUT_USD_PER_MILLION,
            output_usd_per_million=OUTPUT_USD_PER_MILLION,
            cached_input_usd_per_million=None,  # none published for this model
            source=_MODEL_PAGE,
        )
    }
)
"""The prices this package knows, by Workers AI model id (see the module docstring)."""


def price_for(model: str, pricing: Mapping[str, ModelPrice] | None = None) -> ModelPrice | None:
    """The price of ``model``: from ``pricing`` first, else :data:`DEFAULT_PRICING`, else None."""
    if pricing and model in pricing:
        return pricing[model]
    return DEFAULT_PRICING.get(model)


def estimate_cost_usd(prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float:
    """Estimated cost of one call in US dollars at the model's published token prices.

    ``cached_tokens`` (part of ``prompt_tokens``) are priced at the cached-input price where
    one is published, else as input.
    """
    from cf_mistral._types import Usage

    usage = Usage(
        prompt_tokens, completion_tokens, prompt_tokens + completion_tokens, cached_tokens
    )
    return DEFAULT_PRICING[DEFAULT_MODEL].cost_usd(usage)
