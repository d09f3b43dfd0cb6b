"""Errors the adapter raises: each is the core's class *and* langchain-core's standard one.

The core raises :class:`cf_mistral.WorkersAIError` subclasses. At the adapter boundary each is
re-raised as a class that inherits both the core class and the matching langchain-core model
error (``ModelRateLimitError``, ``ModelTimeoutError``, ...), as langchain-anthropic does, so code
written against either hierarchy keeps working::

    except cf_mistral.RateLimitError: ...          # catches CloudflareRateLimitError
    except langchain_core.exceptions.ModelRateLimitError: ...   # catches it too

``is_retryable`` (langchain-core) agrees with ``retryable`` (the core's retry policy). The
error keeps every attribute of the original (status, Cloudflare code, request id, body) and
survives pickling.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import TypeVar

from langchain_core.exceptions import (
    ContextOverflowError,
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelError,
    ModelInvalidRequestError,
    ModelNotFoundError,
    ModelRateLimitError,
    ModelTimeoutError,
)

import cf_mistral as cf

__all__ = [
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
    "adapt_error",
    "adapted_errors",
    "aiter_adapted",
    "iter_adapted",
]


class CloudflareError(cf.WorkersAIError, ModelError):
    """Any other Workers AI error."""


class CloudflareInvalidRequestError(cf.InvalidRequestError, ModelInvalidRequestError):
    """Bad input caught before sending; nothing was sent."""


class CloudflareInvalidParameterError(cf.InvalidParameterError, ModelInvalidRequestError):
    """A sampling parameter outside the model's range."""


class CloudflareConnectionError(cf.APIConnectionError, ModelConnectionError):
    """Workers AI could not be reached."""


class CloudflareTimeoutError(cf.APITimeoutError, ModelTimeoutError):
    """A connect, read or stream-idle timeout expired."""


class CloudflareAPIError(cf.APIStatusError, ModelAPIError):
    """Workers AI answered with an error this table does not name more precisely."""

    is_retryable = False


class CloudflareBadRequestError(cf.BadRequestError, ModelInvalidRequestError):
    """HTTP 400: Workers AI rejected the input."""


class CloudflareGuidedJSONError(cf.GuidedJSONError, ModelInvalidRequestError):
    """Workers AI could not produce JSON matching the schema."""


class CloudflareAuthenticationError(cf.AuthenticationError, ModelAuthenticationError):
    """HTTP 401/403: the token is missing, wrong or lacks Workers AI access."""


class CloudflareNotFoundError(cf.NotFoundError, ModelNotFoundError):
    """HTTP 404: no such account, model or route."""


class CloudflareRequestTimeoutError(cf.RequestTimeoutError, ModelTimeoutError):
    """HTTP 408: Workers AI timed out the request."""


class CloudflareContextOverflowError(cf.RequestTooLargeError, ContextOverflowError):
    """HTTP 413: the request is too large for the model; shrink the prompt or images."""


class CloudflareRateLimitError(cf.RateLimitError, ModelRateLimitError):
    """HTTP 429 (3040): capacity exceeded or rate limited; retried by the client."""


class CloudflareQuotaExceededError(cf.QuotaExceededError, ModelRateLimitError):
    """HTTP 429 (3036 / 4006): the daily allocation is used up; not retryable until 00:00 UTC."""

    is_retryable = False


class CloudflareServerError(cf.ServerError, ModelAPIError):
    """HTTP 5xx inside Cloudflare; retried by the client."""


class CloudflareGatewayError(cf.GatewayError, ModelAPIError):
    """An AI Gateway error (unknown gateway, gateway auth, ...)."""

    is_retryable = False


class CloudflareResponseParseError(cf.ResponseParseError, ModelAPIError):
    """Workers AI answered 200 with a body of no known shape."""

    is_retryable = False


class CloudflareStreamInterruptedError(cf.StreamInterruptedError, ModelConnectionError):
    """The stream broke after it began; ``text`` keeps what arrived."""


# Most specific core class first is not needed: adapt_error walks the raised class's MRO.
_ADAPTED: dict[type[cf.WorkersAIError], type[cf.WorkersAIError]] = {
    cf.WorkersAIError: CloudflareError,
    cf.InvalidRequestError: CloudflareInvalidRequestError,
    cf.InvalidParameterError: CloudflareInvalidParameterError,
    cf.APIConnectionError: CloudflareConnectionError,
    cf.APITimeoutError: CloudflareTimeoutError,
    cf.APIStatusError: CloudflareAPIError,
    cf.BadRequestError: CloudflareBadRequestError,
    cf.GuidedJSONError: CloudflareGuidedJSONError,
    cf.AuthenticationError: CloudflareAuthenticationError,
    cf.NotFoundError: CloudflareNotFoundError,
    cf.RequestTimeoutError: CloudflareRequestTimeoutError,
    cf.RequestTooLargeError: CloudflareContextOverflowError,
    cf.RateLimitError: CloudflareRateLimitError,
    cf.QuotaExceededError: CloudflareQuotaExceededError,
    cf.ServerError: CloudflareServerError,
    cf.GatewayError: CloudflareGatewayError,
    cf.ResponseParseError: CloudflareResponseParseError,
    cf.StreamInterruptedError: CloudflareStreamInterruptedError,
}
_ADAPTER_CLASSES = frozenset(_ADAPTED.values())


def adapt_error(error: cf.WorkersAIError) -> cf.WorkersAIError:
    """The same error as its adapter class (both hierarchies), every attribute kept."""
    if type(error) in _ADAPTER_CLASSES:
        return error
    target = next(
        (_ADAPTED[cls] for cls in type(error).__mro__ if cls in _ADAPTED), CloudflareError
    )
    adapted = target.__new__(target)
    cf.WorkersAIError.__init__(adapted, error.message)
    adapted.__dict__.update(error.__dict__)
    adapted.__cause__ = error.__cause__
    adapted.__traceback__ = error.__traceback__
    return adapted


@contextlib.contextmanager
def adapted_errors() -> Iterator[None]:
    """Re-raise core errors as adapter errors (the original chained as ``__context__``)."""
    try:
        yield
    except cf.WorkersAIError as error:
        adapted = adapt_error(error)
        if adapted is error:
            raise
        raise adapted from error.__cause__


_T = TypeVar("_T")


def iter_adapted(events: Iterator[_T]) -> Iterator[_T]:
    """``events`` with core errors re-raised as adapter errors; closes the source on exit."""
    try:
        with adapted_errors():
            yield from events
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()


async def aiter_adapted(events: AsyncIterator[_T]) -> AsyncIterator[_T]:
    """The async twin of :func:`iter_adapted`."""
    try:
        with adapted_errors():
            async for event in events:
                yield event
    finally:
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
