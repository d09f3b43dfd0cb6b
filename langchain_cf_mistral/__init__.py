"""LangChain integration for Mistral Small 3.1 24B on Cloudflare Workers AI.

>>> from langchain_cf_mistral import ChatCloudflareMistral
>>> ChatCloudflareMistral(account_id="acct", api_token="token").model
'@cf/mistralai/mistral-small-3.1-24b-instruct'
"""

import contextlib

from cf_mistral import __version__
from cf_mistral._framework import framework_imports as _framework_imports

with _framework_imports(
    "langchain_core", adapter="langchain_cf_mistral", distribution="langchain-cf-mistral"
):
    from langchain_cf_mistral._chat_model import ChatCloudflareMistral
    from langchain_cf_mistral._errors import (
        CloudflareAPIError,
        CloudflareAuthenticationError,
        CloudflareBadRequestError,
        CloudflareConnectionError,
        CloudflareContextOverflowError,
        CloudflareError,
        CloudflareGatewayError,
        CloudflareGuidedJSONError,
        CloudflareInvalidParameterError,
        CloudflareInvalidRequestError,
        CloudflareNotFoundError,
        CloudflareQuotaExceededError,
        CloudflareRateLimitError,
        CloudflareRequestTimeoutError,
        CloudflareResponseParseError,
        CloudflareServerError,
        CloudflareStreamInterruptedError,
        CloudflareTimeoutError,
    )

__all__ = [
    "ChatCloudflareMistral",
    "CloudflareAPIError",
    "CloudflareAuthenticationError",
    "CloudflareBadRequestError",
    "CloudflareConnectionError",
    "CloudflareContextOverflowError",
    "CloudflareError",
    "CloudflareGatewayError",
    "CloudflareGuidedJSONError",
    "CloudflareInvalidParameterError",
    "CloudflareInvalidRequestError",
    "CloudflareNotFoundError",
    "CloudflareQuotaExceededError",
    "CloudflareRateLimitError",
    "CloudflareRequestTimeoutError",
    "CloudflareResponseParseError",
    "CloudflareServerError",
    "CloudflareStreamInterruptedError",
    "CloudflareTimeoutError",
    "__version__",
]

# Present every export as langchain_cf_mistral.X (reprs, docs, pickles).
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type):
        with contextlib.suppress(AttributeError, TypeError):
            _value.__module__ = "langchain_cf_mistral"
del _name, _value
