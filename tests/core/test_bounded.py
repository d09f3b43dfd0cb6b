"""Bodies read from Workers AI stop at MAX_REPLY_BYTES, with a ResponseParseError that says so.

A loopback server stands in for a misbehaving endpoint: it makes its oversize bodies lazily
and counts what it sent, so the tests show reading stopped near the limit.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
from collections.abc import Callable, Iterator

import pytest

from cf_mistral import (
    AsyncWorkersAIClient,
    ChatRequest,
    ChatResult,
    ResponseParseError,
    StreamEnd,
    UserMessage,
    WorkersAIClient,
)
from cf_mistral._bounded import MAX_REPLY_BYTES

from .helpers import LoopbackServer, head

MB = 1024 * 1024
REQUEST = ChatRequest(messages=[UserMessage("Hi")])


def call(server: LoopbackServer, *, sync: bool, stream: bool) -> ChatResult:
    """One call to ``server`` (no retries) by the sync or async client, streamed or not."""
    options = {"account_id": "a", "api_token": "t", "base_url": server.url, "max_retries": 0}
    if sync:
        with WorkersAIClient(**options) as client:
            if not stream:
                return client.chat(REQUEST)
            ends = [e for e in client.stream(REQUEST) if isinstance(e, StreamEnd)]
            return ends[0].result

    async def run() -> ChatResult:
        async with AsyncWorkersAIClient(**options) as client:
            if not stream:
                return await client.chat(REQUEST)
            ends = [e async for e in client.stream(REQUEST) if isinstance(e, StreamEnd)]
            return ends[0].result

    return asyncio.run(run())


# What loopback sockets may hold beyond what the client read: the receive buffer grows up to
# net.ipv4.tcp_rmem's maximum (32 MiB on Linux by default) while a client reads fast, plus the
# sender's buffer. A body well past limit + buffers shows that the client stopped reading.
SOCKET_BUFFERS = 40 * MB


def endless(
    status: str, *, declare: bool, total: int = MAX_REPLY_BYTES + 4 * SOCKET_BUFFERS
) -> Callable[[], Iterator[bytes]]:
    """A JSON body of ``total`` bytes, made lazily (its length declared or not)."""

    def reply() -> Iterator[bytes]:
        headers = ["Content-Type: application/json", "Connection: close"]
        if declare:
            headers.append(f"Content-Length: {total}")
        yield head(status, *headers) + b'{"result": {"response": "'
        chunk = b"x" * 65536
        for _ in range(total // len(chunk)):
            yield chunk

    return reply


@pytest.fixture(params=[True, False], ids=["sync", "async"])
def sync(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.mark.parametrize("stream", [False, True], ids=["chat", "stream"])
@pytest.mark.parametrize("status", ["200 OK", "500 Internal Server Error"])
@pytest.mark.parametrize("declare", [True, False], ids=["content-length", "no-length"])
def test_an_oversize_body_fails_typed_and_reading_stops_at_the_limit(
    server: LoopbackServer, sync: bool, stream: bool, status: str, declare: bool
) -> None:
    server.routes["*"] = endless(status, declare=declare)
    with pytest.raises(ResponseParseError, match="MAX_REPLY_BYTES") as caught:
        call(server, sync=sync, stream=stream)
    assert caught.value.status_code == int(status.split(maxsplit=1)[0])
    assert str(MAX_REPLY_BYTES) in str(caught.value)
    time.sleep(0.1)  # let the server notice the closed socket
    if declare:
        assert server.bytes_sent < 8 * MB  # refused before reading; the rest sat in buffers
    else:
        assert MAX_REPLY_BYTES < server.bytes_sent < MAX_REPLY_BYTES + SOCKET_BUFFERS


def test_a_compressed_body_is_bounded_by_its_decoded_size(
    server: LoopbackServer, sync: bool
) -> None:
    bomb = gzip.compress(b'{"result": {"response": "' + b"x" * (MAX_REPLY_BYTES + MB) + b'"}}')

    def reply() -> Iterator[bytes]:
        headers = ["Content-Type: application/json", "Content-Encoding: gzip"]
        yield head("200 OK", *headers, f"Content-Length: {len(bomb)}") + bomb

    server.routes["*"] = reply
    with pytest.raises(ResponseParseError, match="reading stopped there"):
        call(server, sync=sync, stream=False)


def test_a_compressed_reply_under_the_limit_is_read(server: LoopbackServer, sync: bool) -> None:
    body = gzip.compress(json.dumps({"result": {"response": "Hello"}, "success": True}).encode())

    def reply() -> Iterator[bytes]:
        headers = ["Content-Type: application/json", "Content-Encoding: gzip"]
        yield head("200 OK", *headers, f"Content-Length: {len(body)}") + body

    server.routes["*"] = reply
    assert call(server, sync=sync, stream=False).text == "Hello"


def test_a_small_content_length_beside_chunked_encoding_is_still_bounded(
    server: LoopbackServer, sync: bool
) -> None:
    # Transfer-Encoding wins over Content-Length (h11 reads every chunk): the declared size
    # must not put such a body on the unbounded fast path.
    def reply() -> Iterator[bytes]:
        yield head(
            "200 OK",
            "Content-Type: application/json",
            "Content-Length: 3",
            "Transfer-Encoding: chunked",
            "Connection: close",
        )
        chunk = b"x" * 65536
        for _ in range((MAX_REPLY_BYTES + 4 * SOCKET_BUFFERS) // len(chunk)):
            yield f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"

    server.routes["*"] = reply
    with pytest.raises(ResponseParseError, match="MAX_REPLY_BYTES"):
        call(server, sync=sync, stream=False)
    time.sleep(0.1)
    assert server.bytes_sent < MAX_REPLY_BYTES + SOCKET_BUFFERS
