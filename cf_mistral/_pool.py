"""The connection pools our own httpx clients use: httpcore's, with a linear assignment pass.

httpcore runs one bookkeeping pass, ``_assign_requests_to_connections``, every time a request
enters or leaves its pool. In httpcore 1.0 that pass has three faults, each reported upstream
with unmerged fixes (encode/httpcore#1000, #1035, #1110):

- It hands one idle HTTP/1.1 connection to every request queued in the same pass. All but one
  fail with ``ConnectionNotAvailable`` and go round again, so a burst of 200 calls on a pool
  with 20 idle connections ran ~1,230 passes instead of 400.
- It counts *all* connections against ``max_keepalive_connections``, nested in a loop over the
  connections: O(connections²) per pass, and it closes idle connections it should keep while
  others are busy.
- It may close an idle connection already handed to a request that has not started on it yet.
  The sync pool closes outside its lock, so with threads the request can start on the socket
  being closed and hang until its read timeout.

It also keeps, for good, a connection opened for a request that was cancelled before using it;
:func:`assign` closes those too.

:func:`assign` is the same pass, linear, with none of the three; :class:`ConnectionPool` and
:class:`AsyncConnectionPool` are httpcore's pools using it. A burst of 200 concurrent calls on
the emulator took 2x less time with it. They are only installed in HTTP/1.1 pools we create
(:func:`install`): the pass never shares a connection between requests, so it would undo
HTTP/2 multiplexing, and an injected client is the caller's to tune.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import httpcore

__all__ = ["AsyncConnectionPool", "ConnectionPool", "assign", "install"]


class _Connection(Protocol):
    def can_handle_request(self, origin: httpcore.Origin) -> bool: ...
    def has_expired(self) -> bool: ...
    def is_idle(self) -> bool: ...
    def is_closed(self) -> bool: ...


_C = TypeVar("_C", bound=_Connection)


def assign(
    connections: list[_C],
    requests: list[Any],
    *,
    max_connections: int,
    max_keepalive: int,
    create: Callable[[httpcore.Origin], _C],
) -> tuple[list[_C], list[_C]]:
    """One bookkeeping pass: ``(connections to keep, connections to close)``.

    ``requests`` are httpcore's pool requests (``.connection``, ``.request.url.origin``,
    ``.assign_to_connection``); the queued ones, oldest first, get a connection here when one is
    idle for their origin or can be opened. A connection handed to a request stays that
    request's until the request leaves the pool, even while it still reads as idle.
    """
    spoken_for = {id(request.connection) for request in requests if request.connection is not None}
    kept: list[_C] = []
    idle: list[_C] = []  # free for the taking, oldest first
    closing: list[_C] = []
    for connection in connections:
        if connection.is_closed():
            continue
        if id(connection) not in spoken_for:
            if not connection.is_idle():
                # Held by no request, yet not idle: opened for a request cancelled before it
                # started on it (httpcore keeps these, each holding a max_connections slot for
                # good). No request can reach it any more.
                closing.append(connection)
                continue
            # Expired, or the server hung up: never handed out. Only free connections are
            # checked (each check polls the socket): a busy one cannot expire, and one spoken
            # for was checked in the pass that handed it out.
            if connection.has_expired():
                closing.append(connection)
                continue
            idle.append(connection)
        kept.append(connection)

    for request in requests:
        if request.connection is not None:
            continue
        origin = request.request.url.origin
        for index, candidate in enumerate(idle):
            if candidate.can_handle_request(origin):
                connection = idle.pop(index)
                break
        else:
            if len(kept) >= max_connections:
                if not idle:
                    continue  # the pool is full: stays queued until a connection frees up
                # Full, with idle connections to other origins only: make room for this one.
                victim = idle.pop(0)
                kept.remove(victim)
                closing.append(victim)
            connection = create(origin)
            kept.append(connection)
        request.assign_to_connection(connection)

    # Keep-alive quota, counted over idle connections only and after the queue had its pick:
    # closing one a queued request could have used would only open another.
    surplus = len(idle) - max_keepalive
    if surplus > 0:
        evicted = idle[:surplus]
        gone = {id(connection) for connection in evicted}
        kept = [connection for connection in kept if id(connection) not in gone]
        closing += evicted
    return kept, closing


def _linear_pass(pool: Any) -> list[Any]:
    """:func:`assign` over a pool's own fields: the pass of either pool below."""
    pool._connections, closing = assign(
        pool._connections,
        pool._requests,
        max_connections=pool._max_connections,
        max_keepalive=pool._max_keepalive_connections,
        create=pool.create_connection,
    )
    return closing


class ConnectionPool(httpcore.ConnectionPool):
    """httpcore's sync pool with the linear pass (called under the pool's thread lock)."""

    def _assign_requests_to_connections(self) -> list[httpcore.ConnectionInterface]:
        return _linear_pass(self)


class AsyncConnectionPool(httpcore.AsyncConnectionPool):
    """httpcore's async pool with the linear pass."""

    def _assign_requests_to_connections(self) -> list[httpcore.AsyncConnectionInterface]:
        return _linear_pass(self)


_LINEAR: dict[type[Any], type[Any]] = {
    httpcore.ConnectionPool: ConnectionPool,
    httpcore.AsyncConnectionPool: AsyncConnectionPool,
}


def install(transport: object) -> bool:
    """Give an httpx transport we built the linear pass; ``False`` where it does not apply.

    It applies to httpx's default transport over httpcore's plain HTTP/1.1 pool (no proxy, no
    HTTP/2), as long as that pool has the pass to replace: a future httpcore that reshapes
    its pool keeps its own pass rather than breaking ours (a test fails on it in CI).
    """
    pool = getattr(transport, "_pool", None)
    linear = _LINEAR.get(type(pool))
    if linear is None or getattr(pool, "_http2", True):
        return False
    if not all(hasattr(pool, name) for name in ("_connections", "_requests")):
        return False
    # Same fields, one method different: re-classing keeps the pool httpx configured (TLS
    # context, limits, socket options) without rebuilding it from httpx's private settings.
    pool.__class__ = linear
    return True
