"""The exception tree of cf-mistral.

Everything the package raises on purpose derives from :class:`WorkersAIError`::

    WorkersAIError
    ├── InvalidRequestError (also ValueError)    bad input, caught before anything is sent
    │   └── InvalidParameterError                a sampling parameter outside the model's range
    ├── APIConnectionError                       no usable HTTP response (retryable)
    │   └── APITimeoutError                      connect / read / stream-idle timeout (retryable)
    ├── APIStatusError                           Workers AI answered with an error
    │   ├── BadRequestError               400    5006 bad input, 5007 no such model, ...
    │   │   └── GuidedJSONError           400    "JSON Mode couldn't be met"
    │   ├── AuthenticationError           401/403  code 10000
    │   ├── NotFoundError                 404
    │   ├── RequestTimeoutError           408    code 3007 / 3008 (retryable)
    │   ├── RequestTooLargeError          413    code 3006
    │   ├── RateLimitError                429    code 3040, capacity (retryable)
    │   ├── QuotaExceededError            429    code 3036 / 4006, daily allocation (not retryable)
    │   ├── ServerError                   5xx    (retryable)
    │   └── GatewayError                         AI Gateway (`error` singular; 2001 / 2008 / 2009)
    ├── ResponseParseError                       a reply that is not any known Workers AI shape
    └── StreamInterruptedError                   the stream broke after it began; keeps its text

Every error carries what a user needs to act on it (HTTP status, Cloudflare code, message,
request id) and never the API token. All of them survive pickling, so they cross process
boundaries (Dask, multiprocessing) intact.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "GatewayError",
    "GuidedJSONError",
    "InvalidParameterError",
    "InvalidRequestError",
    "NotFoundError",
    "QuotaExceededError",
    "RateLimitError",
    "RequestTimeoutError",
    "RequestTooLargeError",
    "ResponseParseError",
    "ServerError",
    "StreamInterruptedError",
    "WorkersAIError",
]


class WorkersAIError(Exception):
    """Base class of every error cf-mistral raises.

    Attributes:
        message: what went wrong and, where we know it, what to do about it.
        status_code: the HTTP status, when there was a response.
        code: the Cloudflare error code (``errors[0].code``), when the body had one.
        request_id: ``cf-ai-req-id`` or ``cf-ray`` of the response, for Cloudflare support.
        retryable: whether the client's retry policy retries this error.
    """

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: int | None = None,
        request_id: str | None = None,
        body: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.request_id = request_id
        self.body = body

    def _state(self) -> dict[str, Any]:
        return {
            "status_code": self.status_code,
            "code": self.code,
            "request_id": self.request_id,
            "body": self.body,
        }

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors do not pickle by default; rebuild from message + state.
        return (_rebuild, (type(self), self.message, self._state()))

    def __str__(self) -> str:
        parts = [self.message]
        details = []
        if self.status_code is not None:
            details.append(f"HTTP {self.status_code}")
        if self.code is not None:
            details.append(f"code {self.code}")
        if self.request_id:
            details.append(f"request id {self.request_id}")
        if details:
            parts.append(f"({', '.join(details)})")
        return " ".join(parts)


def _rebuild(cls: type[WorkersAIError], message: str, state: dict[str, Any]) -> WorkersAIError:
    error = cls.__new__(cls)
    WorkersAIError.__init__(error, message)
    for key, value in state.items():
        setattr(error, key, value)
    return error


class InvalidRequestError(WorkersAIError, ValueError):
    """The request cannot be sent as given; nothing was sent. The message names the fix."""


class InvalidParameterError(InvalidRequestError):
    """A sampling parameter is outside the range the model's published schema allows."""


class APIConnectionError(WorkersAIError):
    """No usable HTTP response: connection refused or reset, TLS failure, broken protocol."""

    retryable = True


class APITimeoutError(APIConnectionError):
    """A connect, read or stream-idle timeout expired."""


class APIStatusError(WorkersAIError):
    """Workers AI (or AI Gateway) answered with an error status or an error body.

    ``retry_after`` holds the server's ``Retry-After`` in seconds when it sent one (a 429 or a
    503 may); the retry policy waits that long instead of its own backoff.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "retry_after": self.retry_after}


class BadRequestError(APIStatusError):
    """HTTP 400: the server rejected the input (5006 bad input, 5007 no such model, ...)."""


class GuidedJSONError(BadRequestError):
    """The server could not produce JSON matching ``guided_json`` ("JSON Mode couldn't be met")."""


class AuthenticationError(APIStatusError):
    """HTTP 401/403 (code 10000): the API token is missing, wrong or lacks Workers AI access."""


class NotFoundError(APIStatusError):
    """HTTP 404: the account, model or route does not exist."""


class RequestTimeoutError(APIStatusError):
    """HTTP 408 (code 3007 / 3008): Workers AI timed out or aborted the request."""

    retryable = True


class RequestTooLargeError(APIStatusError):
    """HTTP 413 (code 3006): the request body is too large; shrink the prompt or images."""


class RateLimitError(APIStatusError):
    """HTTP 429 (code 3040): capacity temporarily exceeded or rate limited; retried.

    ``retry_after`` holds the server's ``Retry-After`` in seconds when it sent one.
    """

    retryable = True


class QuotaExceededError(APIStatusError):
    """HTTP 429 (code 3036 / 4006): the daily free allocation of neurons is used up.

    Not retried: the allocation resets at 00:00 UTC (or upgrade to the Workers Paid plan).
    """


class ServerError(APIStatusError):
    """HTTP 5xx: an error inside Cloudflare; retried."""

    retryable = True


class GatewayError(APIStatusError):
    """An AI Gateway error (``{"success": false, "error": [...]}``; codes 2001, 2008, 2009...)."""


class ResponseParseError(WorkersAIError):
    """A reply that is not any known Workers AI shape, or a body over ``MAX_REPLY_BYTES``."""


class StreamInterruptedError(WorkersAIError):
    """The stream ended before ``[DONE]``, stalled, or carried an error after it began.

    ``text`` holds the text received before the interruption, so nothing that arrived is lost.
    Retried only when nothing had been yielded to the caller yet.
    """

    retryable = True

    def __init__(self, message: str, *, text: str = "", **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.text = text

    def _state(self) -> dict[str, Any]:
        return {**super()._state(), "text": self.text}
