"""Bodies read from Workers AI, whole replies and error bodies, up to :data:`MAX_REPLY_BYTES`.

httpx reads a body whole into memory; a misbehaving proxy or endpoint that answers with an
endless body would grow the process until it dies. The body is streamed instead and reading
stops at the limit, which sits far above any real reply: the model's context is 128k tokens,
so a reply is at most ~128k tokens of a few bytes each, and even escaped as ``\\uXXXX`` JSON
(6 bytes a character) a 128k-token reply stays near 3 MiB. Stream events have their own,
separate cap (``MAX_EVENT_BYTES`` in :mod:`cf_mistral._sse`).
"""

from __future__ import annotations

import httpx

from cf_mistral._errors import ResponseParseError
from cf_mistral._status import request_id_of

__all__ = ["MAX_REPLY_BYTES", "aread_bounded", "read_bounded"]

MAX_REPLY_BYTES = 32 * 1024 * 1024


class _BoundedBody:
    """The bytes of one body so far; raises once they pass ``limit``."""

    def __init__(self, response: httpx.Response, limit: int) -> None:
        self.response = response
        self.limit = limit
        self.chunks: list[bytes] = []
        self.size = 0
        declared = response.headers.get("content-length", "").strip()
        # A compressed body's Content-Length is not its size once decoded: checked as it is read.
        identity = _identity(response)
        if declared.isdigit() and int(declared) > limit and identity:
            raise self._too_large(f"declares {int(declared)} bytes")
        #: An uncompressed body with a Content-Length within the limit: HTTP/1.1 framing reads
        #: no more than declared, so httpx may read it as it always does (no copy, no new object).
        #: A Transfer-Encoding beside it wins over the Content-Length (h11 reads the chunks), so
        #: such a body is counted as it is read.
        self.declared_within_limit = (
            declared.isdigit() and identity and "transfer-encoding" not in response.headers
        )

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise self._too_large(f"passed {self.limit} bytes; reading stopped there")
        self.chunks.append(chunk)

    def _too_large(self, what: str) -> ResponseParseError:
        response = self.response
        return ResponseParseError(
            f"The reply to this call (HTTP {response.status_code}) {what}: over "
            f"{self.limit} bytes (MAX_REPLY_BYTES), far more than any reply of this model. "
            "The endpoint or a proxy in between is misbehaving; check base_url.",
            status_code=response.status_code,
            request_id=request_id_of(response.headers),
        )

    def read(self) -> httpx.Response:
        """A response holding the decoded body (the original's stream is consumed)."""
        response = self.response
        headers = httpx.Headers(response.headers)
        # The body is already decoded: the new response must not decode it again.
        for name in ("content-encoding", "content-length", "transfer-encoding"):
            headers.pop(name, None)
        return httpx.Response(
            response.status_code,
            headers=headers,
            content=b"".join(self.chunks),
            request=response.request,
            extensions=response.extensions,
        )


def _identity(response: httpx.Response) -> bool:
    return response.headers.get("content-encoding", "identity").strip().lower() in (
        "",
        "identity",
    )


def read_bounded(response: httpx.Response, limit: int = MAX_REPLY_BYTES) -> httpx.Response:
    """Read a streamed ``response`` up to ``limit`` bytes into a new, read response.

    Past the limit the response is closed and :class:`ResponseParseError` says so.
    """
    try:
        body = _BoundedBody(response, limit)
        if body.declared_within_limit:
            response.read()
            return response
        for chunk in response.iter_bytes():
            body.feed(chunk)
    finally:
        response.close()
    return body.read()


async def aread_bounded(response: httpx.Response, limit: int = MAX_REPLY_BYTES) -> httpx.Response:
    """The async twin of :func:`read_bounded`."""
    try:
        body = _BoundedBody(response, limit)
        if body.declared_within_limit:
            await response.aread()
            return response
        async for chunk in response.aiter_bytes():
            body.feed(chunk)
    finally:
        await response.aclose()
    return body.read()
