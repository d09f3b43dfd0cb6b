"""The compatibility module (``cf_mistral._compat``): the pool pass and its version gate.

The pass itself is a pure function, checked here over stand-in connections and requests for
each of the three faults of httpcore's own pass it fixes. The pools built on it are then checked
against the emulator: the clients we build use them, a burst of concurrent calls takes exactly
one pass in and one out per request, and threads sharing a sync client all get their replies.
The gate installs them only on the httpx and httpcore releases they were tested on; on any
other, the clients keep httpcore's pool and the ``cf_mistral`` logger says so once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx
import pytest

from cf_mistral import AsyncWorkersAIClient, ChatRequest, UserMessage, WorkersAIClient, _compat
from cf_mistral._compat import (
    HTTPCORE_TESTED,
    HTTPX_TESTED,
    AsyncConnectionPool,
    ConnectionPool,
    assign,
    install_linear_pool,
    within,
)
from cf_mistral.emulator import Emulator

A = httpcore.Origin(b"https", b"api.cloudflare.com", 443)
B = httpcore.Origin(b"https", b"gateway.ai.cloudflare.com", 443)


@dataclass(eq=False)
class FakeConnection:
    name: str
    origin: httpcore.Origin = field(default_factory=lambda: A)
    state: str = "idle"  # idle | active | closed | connecting
    expired: bool = False
    polls: int = 0

    def can_handle_request(self, origin: httpcore.Origin) -> bool:
        return origin == self.origin

    def has_expired(self) -> bool:
        self.polls += 1
        return self.expired

    def is_idle(self) -> bool:
        return self.state == "idle"

    def is_closed(self) -> bool:
        return self.state == "closed"


@dataclass(eq=False)
class FakeRequest:
    origin: httpcore.Origin = field(default_factory=lambda: A)
    connection: FakeConnection | None = None
    request: Any = field(init=False)

    def __post_init__(self) -> None:
        origin = self.origin
        url = httpcore.URL(scheme=origin.scheme, host=origin.host, port=origin.port, target="/")
        self.request = httpcore.Request("POST", url)

    def assign_to_connection(self, connection: FakeConnection) -> None:
        assert self.connection is None, "a request is only assigned once per wait"
        self.connection = connection


def run_pass(
    connections: list[FakeConnection],
    requests: list[FakeRequest],
    *,
    max_connections: int = 100,
    max_keepalive: int = 20,
) -> tuple[list[FakeConnection], list[FakeConnection], list[FakeConnection]]:
    """(kept, closing, created) after one pass."""
    created: list[FakeConnection] = []

    def create(origin: httpcore.Origin) -> FakeConnection:
        connection = FakeConnection(f"new{len(created)}", origin, state="connecting")
        created.append(connection)
        return connection

    kept, closing = assign(
        connections,
        requests,
        max_connections=max_connections,
        max_keepalive=max_keepalive,
        create=create,
    )
    return kept, closing, created


def names(connections: list[FakeConnection]) -> list[str]:
    return [connection.name for connection in connections]


# -- the pass ---------------------------------------------------------------------------------


def test_each_queued_request_gets_a_connection_of_its_own() -> None:
    # httpcore's pass gave idle[0] to all three; two then failed and went round again.
    idle = [FakeConnection("c0"), FakeConnection("c1")]
    requests = [FakeRequest(), FakeRequest(), FakeRequest()]
    kept, closing, _ = run_pass(idle, requests)
    assert names([request.connection for request in requests if request.connection]) == [
        "c0",
        "c1",
        "new0",
    ]
    assert names(kept) == ["c0", "c1", "new0"]
    assert closing == []


def test_a_connection_spoken_for_is_neither_shared_nor_closed() -> None:
    # Handed to a request that has not started on it: it still reads as idle.
    spoken = FakeConnection("c0")
    waiting = FakeRequest(connection=spoken)
    queued = FakeRequest()
    kept, closing, created = run_pass([spoken], [waiting, queued], max_keepalive=0)
    assert queued.connection is created[0]
    assert closing == []  # httpcore's pass could close it under the waiting request
    assert names(kept) == ["c0", "new0"]
    assert spoken.polls == 0


def test_the_keep_alive_quota_counts_idle_connections_only() -> None:
    busy = [FakeConnection(f"busy{i}", state="active") for i in range(5)]
    idle = [FakeConnection(f"idle{i}") for i in range(3)]
    requests = [FakeRequest(connection=connection) for connection in busy]
    kept, closing, _ = run_pass([*busy, *idle], requests, max_keepalive=3)
    assert closing == []  # httpcore's pass counted all 8 against the quota of 3
    assert len(kept) == 8


def test_surplus_idle_connections_close_oldest_first_after_the_queue_had_its_pick() -> None:
    idle = [FakeConnection(f"c{i}") for i in range(5)]
    queued = FakeRequest()
    kept, closing, created = run_pass(idle, [queued], max_keepalive=2)
    assert queued.connection is idle[0]
    assert created == []
    assert names(closing) == ["c1", "c2"]
    assert names(kept) == ["c0", "c3", "c4"]


def test_expired_connections_close_closed_ones_drop_and_busy_ones_are_not_polled() -> None:
    stale = FakeConnection("stale", expired=True)
    gone = FakeConnection("gone", state="closed")
    busy = FakeConnection("busy", state="active")
    fresh = FakeConnection("fresh")
    queued = FakeRequest()
    kept, closing, created = run_pass(
        [stale, gone, busy, fresh], [FakeRequest(connection=busy), queued]
    )
    assert queued.connection is fresh
    assert created == []
    assert names(closing) == ["stale"]
    assert names(kept) == ["busy", "fresh"]
    assert busy.polls == 0
    assert fresh.polls == 1


def test_a_request_only_takes_an_idle_connection_to_its_own_origin() -> None:
    other = FakeConnection("b0", origin=B)
    queued = FakeRequest(origin=A)
    kept, closing, created = run_pass([other], [queued])
    assert queued.connection is created[0]
    assert created[0].origin == A
    assert names(kept) == ["b0", "new0"]
    assert closing == []


def test_a_full_pool_queues_or_makes_room_from_another_origins_idle_connection() -> None:
    busy = [FakeConnection(f"busy{i}", state="active") for i in range(2)]
    holders = [FakeRequest(connection=connection) for connection in busy]
    queued = FakeRequest()
    kept, closing, created = run_pass(busy, [*holders, queued], max_connections=2)
    assert queued.connection is None
    assert created == []
    assert closing == []

    idle_b = FakeConnection("b0", origin=B)
    kept, closing, created = run_pass([busy[0], idle_b], [holders[0], queued], max_connections=2)
    assert names(closing) == ["b0"]
    assert queued.connection is created[0]
    assert names(kept) == ["busy0", "new0"]


def test_requests_are_served_oldest_first_when_connections_run_short() -> None:
    busy = FakeConnection("busy", state="active")
    first, second = FakeRequest(), FakeRequest()
    run_pass([busy], [FakeRequest(connection=busy), first, second], max_connections=2)
    assert first.connection is not None
    assert second.connection is None


# -- the pools we build -----------------------------------------------------------------------


def test_the_clients_we_build_use_the_linear_pools(connection: dict[str, Any]) -> None:
    # Fails when an httpx or httpcore upgrade reshapes the transport or the pool, rather than
    # silently falling back to httpcore's own pass.
    with WorkersAIClient(**connection) as client:
        assert type(client._http._transport._pool) is ConnectionPool  # type: ignore[attr-defined]

    async def async_pool_type() -> type:
        async with AsyncWorkersAIClient(**connection) as aclient:
            return type(aclient._http._transport._pool)  # type: ignore[attr-defined]

    assert asyncio.run(async_pool_type()) is AsyncConnectionPool


def test_an_injected_client_keeps_its_own_pool(connection: dict[str, Any]) -> None:
    injected = httpx.Client()
    with WorkersAIClient(**connection, http_client=injected) as client:
        assert type(client._http._transport._pool) is httpcore.ConnectionPool  # type: ignore[attr-defined]
    injected.close()


def test_install_leaves_http2_and_proxy_pools_alone() -> None:
    class Client:
        class _transport:  # stands in for httpx's attribute
            _pool: Any = httpcore.ConnectionPool(http2=True)

    assert install_linear_pool(Client()) is False
    assert type(Client._transport._pool) is httpcore.ConnectionPool
    assert install_linear_pool(object()) is False
    with httpx.Client(proxy="http://127.0.0.1:9") as proxied:
        assert install_linear_pool(proxied) is True  # the client's own transport only
        (mount,) = proxied._mounts.values()  # type: ignore[attr-defined]
        assert type(mount._pool) is not ConnectionPool
    with httpx.Client() as plain:
        assert install_linear_pool(plain) is True
        assert type(plain._transport._pool) is ConnectionPool  # type: ignore[attr-defined]


def _count_passes(pool: Any) -> Callable[[], int]:
    passes = 0
    assign_pass = pool._assign_requests_to_connections
    lock = threading.Lock()

    def counted() -> Any:
        nonlocal passes
        with lock:
            passes += 1
        return assign_pass()

    pool._assign_requests_to_connections = counted
    return lambda: passes


async def test_a_burst_takes_one_pass_in_and_one_out_per_request(
    emulator: Emulator, connection: dict[str, Any]
) -> None:
    emulator.script(text="pooled", repeat=0)
    async with AsyncWorkersAIClient(**connection) as client:
        pool = client._http._transport._pool  # type: ignore[attr-defined]
        request = ChatRequest(messages=[UserMessage("hi")])
        await asyncio.gather(*(client.chat(request) for _ in range(200)))  # fills the pool
        assert len(pool.connections) == 100  # all kept alive
        assert all(c.is_idle() for c in pool.connections)
        passes = _count_passes(pool)
        opened = emulator.connections_opened
        replies = await asyncio.gather(*(client.chat(request) for _ in range(200)))
        assert {reply.text for reply in replies} == {"pooled"}
        # httpcore's pass handed the idle connections to every queued request in turn: each
        # of those retries is a pass more.
        assert passes() == 400
        assert emulator.connections_opened - opened == 0  # the first burst's, reused
        assert len(pool.connections) == 100


def test_threads_sharing_a_sync_client_all_get_their_replies(
    emulator: Emulator, connection: dict[str, Any]
) -> None:
    emulator.script(text="threaded", repeat=0)
    replies: list[str] = []
    errors: list[BaseException] = []
    with WorkersAIClient(**connection, timeout={"read": 10}) as client:
        passes = _count_passes(client._http._transport._pool)  # type: ignore[attr-defined]
        request = ChatRequest(messages=[UserMessage("hi")])

        def work() -> None:
            try:
                for _ in range(5):
                    replies.append(client.chat(request).text)
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=work) for _ in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)
        assert errors == []
        assert replies == ["threaded"] * 200
        assert passes() == 400
        # One per thread at most, all kept alive (the quota is max_connections).
        assert len(client._http._transport._pool.connections) <= 40  # type: ignore[attr-defined]


def test_a_connection_held_by_no_request_and_not_idle_is_closed() -> None:
    # Opened for a request that was cancelled before it started on it: nothing can reach it.
    orphan = FakeConnection("orphan", state="connecting")
    held = FakeConnection("held", state="connecting")
    kept, closing, _ = run_pass([orphan, held], [FakeRequest(connection=held)])
    assert names(closing) == ["orphan"]
    assert names(kept) == ["held"]


# -- the version gate -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "inside"),
    [
        ("1.0.3", True),
        ("1.0.9", True),
        ("1.0.5", True),
        ("1.0.9.post1", True),
        ("1.0.2", False),
        ("1.0.10", False),
        ("1.1.0", False),
        ("1.1.0rc1", False),
        ("2.0", False),
        ("0.18.0", False),
    ],
)
def test_within_compares_numeric_releases_both_ends_included(version: str, inside: bool) -> None:
    assert within(version, ("1.0.3", "1.0.9")) is inside


def test_the_installed_versions_are_inside_the_tested_ranges() -> None:
    # The lock must pin releases the pass was tested on; the suite checks the ends in CI.
    assert within(httpcore.__version__, HTTPCORE_TESTED), httpcore.__version__
    assert within(httpx.__version__, HTTPX_TESTED), httpx.__version__


@pytest.fixture
def fresh_gate() -> Iterator[None]:
    """The gate decides again (it is checked once per process), and is reset afterwards."""
    _compat.linear_pool_applies.cache_clear()
    _compat._log_reshaped_pool.cache_clear()
    yield
    _compat.linear_pool_applies.cache_clear()
    _compat._log_reshaped_pool.cache_clear()


def _gate_logs(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "cf_mistral" and "assignment pass" in record.getMessage()
    ]


@pytest.mark.usefixtures("fresh_gate")
def test_inside_the_tested_versions_the_pass_is_installed_without_a_word(
    connection: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="cf_mistral")
    with WorkersAIClient(**connection) as client:
        assert type(client._http._transport._pool) is ConnectionPool  # type: ignore[attr-defined]
    assert _gate_logs(caplog) == []


def _next_minor(version: str) -> str:
    """The first release past a tested range's newest end: "0.29.0" -> "0.30.0"."""
    major, minor, *_ = version.split(".")
    return f"{major}.{int(minor) + 1}.0"


@pytest.mark.usefixtures("fresh_gate")
@pytest.mark.parametrize(
    ("module", "version"),
    [
        (httpcore, _next_minor(HTTPCORE_TESTED[1])),
        (httpcore, "1.0.2"),
        (httpx, _next_minor(HTTPX_TESTED[1])),
        (httpx, "0.26.0"),
    ],
    ids=["httpcore-newer", "httpcore-older", "httpx-newer", "httpx-older"],
)
def test_outside_the_tested_versions_pools_stay_stock_and_it_is_logged_once(
    module: Any,
    version: str,
    connection: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(module, "__version__", version)
    caplog.set_level(logging.DEBUG, logger="cf_mistral")
    emulated = ChatRequest(messages=[UserMessage("hi")])
    with WorkersAIClient(**connection) as client, WorkersAIClient(**connection) as other:
        assert client.chat(emulated).text  # stock pools still work
        assert other.chat(emulated).text
        assert type(client._http._transport._pool) is httpcore.ConnectionPool  # type: ignore[attr-defined]
        assert type(other._http._transport._pool) is httpcore.ConnectionPool  # type: ignore[attr-defined]

    async def async_pool_type() -> type:
        async with AsyncWorkersAIClient(**connection) as aclient:
            return type(aclient._http._transport._pool)  # type: ignore[attr-defined]

    assert asyncio.run(async_pool_type()) is httpcore.AsyncConnectionPool
    (record,) = _gate_logs(caplog)
    assert record.levelno == logging.DEBUG
    assert f"{module.__name__} {version}" in record.getMessage()


@pytest.mark.usefixtures("fresh_gate")
def test_a_pool_missing_what_the_pass_needs_stays_stock(
    connection: dict[str, Any], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A release inside the range that still reshaped its pool: the pass is not installed.
    monkeypatch.delattr(httpcore.ConnectionPool, "_assign_requests_to_connections")
    caplog.set_level(logging.DEBUG, logger="cf_mistral")
    with WorkersAIClient(**connection) as client:
        pool = client._http._transport._pool  # type: ignore[attr-defined]
        assert type(pool) is httpcore.ConnectionPool
    assert any("has no _assign_requests_to_connections" in r.getMessage() for r in caplog.records)
