"""Abandoning a stream closes its HTTP response: nothing stays open, nothing leaks.

A stream is abandoned four ways: ``break`` out of the loop, ``close()``/``aclose()`` the
generator, or cancel the task consuming an async stream. The emulator stalls each stream after
two events, so a response that was not closed would stay ESTABLISHED for seconds; the tests
look at the process's own sockets (psutil) and at httpx's pool, so they hold for the adapters,
whose pools are private, as well as for the core.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import psutil
import pytest

from cf_mistral import AsyncWorkersAIClient, ChatRequest, UserMessage, WorkersAIClient
from cf_mistral.emulator import Emulator, FaultKind

from .paths import STREAM_PATHS, HumanMessage, Path, adapter_class, params

ChatMessage = pytest.importorskip("llama_index.core.llms").ChatMessage
REQUEST = ChatRequest(messages=[UserMessage("hello")])
ABANDONED = 1_000


def client_sockets(emulator: Emulator) -> int:
    """This process's ESTABLISHED sockets *to* the emulator (the client ends only)."""
    return sum(
        1
        for conn in psutil.Process().net_connections(kind="tcp")
        if conn.raddr
        and conn.raddr.port == emulator.port
        and conn.status == psutil.CONN_ESTABLISHED
    )


def wait_for_no_client_sockets(emulator: Emulator, within: float = 2.0) -> int:
    deadline = time.monotonic() + within
    while (count := client_sockets(emulator)) and time.monotonic() < deadline:
        time.sleep(0.02)
    return count


def active(pool: Any) -> list[Any]:
    """Connections of an httpcore pool still carrying a response."""
    return [c for c in pool.connections if not c.is_idle() and not c.is_closed()]


def sync_stream(path: Path, connection: dict[str, Any]) -> tuple[Any, Iterator[Any]]:
    if path.framework == "core":
        client = WorkersAIClient(**connection)
        return client, client.stream(REQUEST)
    model = adapter_class(path.framework)(**connection)
    if path.framework == "langchain":
        return model, model.stream([HumanMessage("hello")])
    return model, model.stream_chat([ChatMessage(role="user", content="hello")])


async def async_stream(path: Path, connection: dict[str, Any]) -> tuple[Any, AsyncIterator[Any]]:
    if path.framework == "core":
        client = AsyncWorkersAIClient(**connection)
        return client, client.stream(REQUEST)
    model = adapter_class(path.framework)(**connection)
    if path.framework == "langchain":
        return model, model.astream([HumanMessage("hello")])
    return model, await model.astream_chat([ChatMessage(role="user", content="hello")])


@pytest.fixture
def stalling() -> Iterator[Emulator]:
    """Every stream sends two events, then stalls for 5 s.

    A server of its own: sockets that other tests in this worker left in their pools must not
    count as this test's.
    """
    with Emulator() as emulator:
        emulator.script(chunks=["one", " two", " three"], repeat=0)
        emulator.set_fault_rate(1.0, kinds=[FaultKind.stall])
        yield emulator


@pytest.fixture
def stalling_connection(stalling: Emulator) -> dict[str, Any]:
    return {
        "account_id": stalling.account_id,
        "api_token": stalling.token,
        "base_url": stalling.base_url,
    }


@pytest.mark.parametrize("how", ["break", "close"])
@pytest.mark.parametrize("path", params(tuple(p for p in STREAM_PATHS if not p.is_async)))
def test_abandoning_a_sync_stream_closes_the_response(
    path: Path, how: str, stalling: Emulator, stalling_connection: dict[str, Any]
) -> None:
    _owner, stream = sync_stream(path, stalling_connection)
    if how == "break":
        for _ in stream:
            assert client_sockets(stalling) == 1
            break
        del stream  # what leaving the loop's scope does
    else:
        next(stream)
        assert client_sockets(stalling) == 1
        stream.close()  # type: ignore[attr-defined]
    assert wait_for_no_client_sockets(stalling) == 0
    assert len(stalling.requests) == 1


@pytest.mark.parametrize("how", ["aclose", "cancel"])
@pytest.mark.parametrize("path", params(tuple(p for p in STREAM_PATHS if p.is_async)))
async def test_abandoning_an_async_stream_closes_the_response(
    path: Path, how: str, stalling: Emulator, stalling_connection: dict[str, Any]
) -> None:
    _owner, stream = await async_stream(path, stalling_connection)
    if how == "aclose":
        await anext(aiter(stream))
        assert client_sockets(stalling) == 1
        await stream.aclose()  # type: ignore[attr-defined]
    else:
        received = asyncio.Event()

        async def consume() -> None:
            async for _ in stream:
                received.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(received.wait(), 5)
        await asyncio.sleep(0.05)  # the consumer is now parked in the stall
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert await asyncio.to_thread(wait_for_no_client_sockets, stalling) == 0
    assert len(stalling.requests) == 1


async def test_a_thousand_abandoned_streams_leak_no_connection_and_no_descriptor() -> None:
    process = psutil.Process()
    gc.collect()
    fds_before = process.num_fds()
    with Emulator() as server:
        server.script(chunks=["word "] * 50, repeat=0)
        server.set_fault_rate(1.0, kinds=[FaultKind.stall])  # each stalls after two events
        server.configure(stream_padding=False)
        connection = {
            "account_id": server.account_id,
            "api_token": server.token,
            "base_url": server.base_url,
        }
        sync_client = WorkersAIClient(**connection)
        async_client = AsyncWorkersAIClient(**connection)
        quarter = ABANDONED // 4

        def abandon_sync() -> None:
            for index in range(2 * quarter):
                stream = sync_client.stream(REQUEST)
                next(stream)
                if index % 2:
                    stream.close()
                del stream  # the other half: dropped, as a `break` does

        await asyncio.to_thread(abandon_sync)
        for index in range(2 * quarter):
            stream = async_client.stream(REQUEST)
            if index % 2:
                await anext(stream)
                await stream.aclose()
            else:
                await anext(stream)
                await anext(stream)
                # The third event is stalled on the server: the consumer parks, is cancelled.
                parked = asyncio.create_task(anext(stream))
                done, _ = await asyncio.wait({parked}, timeout=0.002)
                assert not done
                parked.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await parked
                await stream.aclose()

        assert len(server.requests) == ABANDONED
        assert wait_for_no_client_sockets(server) == 0, "abandoned streams left sockets open"
        assert isinstance(sync_client._http, httpx.Client)
        assert active(sync_client._http._transport._pool) == []
        assert active(async_client._http._transport._pool) == []
        sync_client.close()
        await async_client.aclose()
        port = server.port
    gc.collect()
    # Other tests' sockets may close meanwhile, so: none of ours left, and no more than before.
    leftover = [
        conn
        for conn in process.net_connections(kind="all")
        if port in (getattr(conn.laddr, "port", None), getattr(conn.raddr, "port", None))
    ]
    assert leftover == [], "sockets leaked"
    assert process.num_fds() <= fds_before, "file descriptors leaked"


@pytest.mark.parametrize("framework", ["langchain", "llamaindex"])
def test_an_adapter_used_from_many_event_loops_keeps_one_pool(
    framework: str, emulator: Emulator, connection: dict[str, Any]
) -> None:
    # Each asyncio.run is a new loop and the adapter opens a pool per loop: the pools of loops
    # that are gone must not pile up (one socket per loop would be a leak).
    model = adapter_class(framework)(**connection)

    async def once() -> None:
        if framework == "langchain":
            await model.ainvoke([HumanMessage("hi")])
        else:
            await model.achat([ChatMessage(role="user", content="hi")])

    for _ in range(5):
        asyncio.run(once())
    gc.collect()
    process = psutil.Process()
    fds_before = process.num_fds()
    for _ in range(30):
        asyncio.run(once())
    gc.collect()
    assert client_sockets(emulator) <= 1
    assert process.num_fds() < fds_before + 10, "descriptors grow with the number of loops"
