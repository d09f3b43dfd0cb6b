"""Every place cf-mistral relies on a dependency's private internals, each gated by version.

Everything else in cf-mistral uses only what its dependencies document. What cannot be done
that way lives here, and each touch is made only on the dependency versions it was tested on
(the ranges below, which ``make test`` runs the suite on, oldest and newest). On any other
version the touch is skipped, the stock behaviour runs, and the ``cf_mistral`` logger says so
once, at debug level: an upgrade can cost the gain, never correctness.

The touches, with their gates:

- **The linear connection-pool pass** (:func:`install_linear_pool`), gated on
  :data:`HTTPCORE_TESTED` and :data:`HTTPX_TESTED`. It reads an httpx client's transport
  (``Client._transport``) and that transport's pool (``HTTPTransport._pool``), re-classes the
  pool, and rewrites httpcore's ``_assign_requests_to_connections`` over the pool's
  ``_connections``, ``_requests``, ``_max_connections``, ``_max_keepalive_connections`` and
  ``_http2``.

Why the pass. httpcore runs one bookkeeping pass, ``_assign_requests_to_connections``, every
time a request enters or leaves its pool. In httpcore 1.0 that pass has three faults, each
reported upstream with unmerged fixes (encode/httpcore#1000, #1035, #1110):

- It hands one idle HTTP/1.1 connection to every request queued in the same pass. All but one
  fail with ``ConnectionNotAvailable`` and go round again, so a burst of concurrent calls runs
  several passes per request instead of one in and one out.
- It counts *all* connections against ``max_keepalive_connections``, nested in a loop over the
  connections: quadratic in the connections per pass, and it closes idle connections it should
  keep while others are busy.
- It may close an idle connection already handed to a request that has not started on it yet.
  The sync pool closes outside its lock, so with threads the request can start on the socket
  being closed and hang until its read timeout.

It also keeps, for good, a connection opened for a request that was cancelled before using it;
:func:`assign` closes those too.

:func:`assign` is the same pass, linear, with none of the three; :class:`ConnectionPool` and
:class:`AsyncConnectionPool` are httpcore's pools using it. They are only installed in
HTTP/1.1 pools cf-mistral creates: the pass never shares a connection between requests, so it
would undo HTTP/2 multiplexing, and an injected client is the caller's to tune.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import httpcore
import httpx

__all__ = [
    "HTTPCORE_TESTED",
    "HTTPX_TESTED",
    "AsyncConnectionPool",
    "ConnectionPool",
    "assign",
    "install_linear_pool",
    "linear_pool_applies",
    "within",
]

logger = logging.getLogger("cf_mistral")

# The oldest and newest releases the linear pool pass was tested on, both included. The
# packaging matrix runs the suite on each end; widen a range only after it passes there.
HTTPCORE_TESTED: tuple[str, str] = ("1.0.3", "1.0.9")
HTTPX_TESTED: tuple[str, str] = ("0.27.0", "0.29.0")


def _release(version: str) -> tuple[int, ...]:
    """The numeric release of a version string: ``"1.0.9"`` → ``(1, 0, 9)``.

    A pre-release, post-release or local suffix ends it (``"1.1.0rc1"`` → ``(1, 1, 0)``).
    """
    numbers: list[int] = []
    for piece in version.split("."):
        digits = re.match(r"\d+", piece)
        if digits is None:
            break
        numbers.append(int(digits.group()))
        if digits.end() != len(piece):
            break
    return tuple(numbers)


def within(version: str, tested: tuple[str, str]) -> bool:
    """Whether ``version`` lies in ``tested`` (oldest, newest), both ends included."""
    oldest, newest = tested
    return _release(oldest) <= _release(version) <= _release(newest)


@functools.cache
def linear_pool_applies() -> bool:
    """Whether the installed httpx and httpcore are ones the pool pass was tested on.

    Checked once per process; when they are not, says so once on the ``cf_mistral`` logger.
    """
    found = {"httpcore": httpcore.__version__, "httpx": httpx.__version__}
    tested = {"httpcore": HTTPCORE_TESTED, "httpx": HTTPX_TESTED}
    outside = [name for name in found if not within(found[name], tested[name])]
    if outside:
        logger.debug(
            "Connection pools keep httpcore's own assignment pass: %s outside the versions "
            "cf-mistral's linear pass was tested on (%s).",
            ", ".join(f"{name} {found[name]} is" for name in outside),
            ", ".join(f"{name} {tested[name][0]} to {tested[name][1]}" for name in outside),
        )
        return False
    return True


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

# What the pass reads and writes on httpcore's pool.
_POOL_FIELDS = (
    "_connections",
    "_requests",
    "_max_connections",
    "_max_keepalive_connections",
    "_assign_requests_to_connections",
)


def install_linear_pool(client: object) -> bool:
    """Give an httpx client cf-mistral built the linear pass; ``False`` where it does not apply.

    It applies to httpx's default transport over httpcore's plain HTTP/1.1 pool (no HTTP/2;
    proxy mounts keep their own pools), on the httpx and httpcore releases it was tested on
    (:func:`linear_pool_applies`). Elsewhere the pool is left as httpx built it.
    """
    if not linear_pool_applies():
        return False
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    linear = _LINEAR.get(type(pool))
    if linear is None or getattr(pool, "_http2", True):
        return False
    missing = tuple(name for name in _POOL_FIELDS if not hasattr(pool, name))
    if missing:
        _log_reshaped_pool(missing)
        return False
    # Same fields, one method different: re-classing keeps the pool httpx configured (TLS
    # context, limits, socket options) without rebuilding it from httpx's private settings.
    pool.__class__ = linear
    return True


@functools.cache
def _log_reshaped_pool(missing: tuple[str, ...]) -> None:
    logger.debug(
        "Connection pools keep httpcore's own assignment pass: httpcore %s's pool has no %s.",
        httpcore.__version__,
        ", ".join(missing),
    )
