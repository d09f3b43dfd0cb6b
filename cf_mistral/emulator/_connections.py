"""New connections per client, as the emulator sees them.

A client is what sends the ``X-Emulator-Client`` header (a name the caller picks: one per
process, per pool, per contender), else the peer's IP address. Not the peer's port: a client
that opens ten connections uses ten ports, and counting them apart would hide exactly what
the count is for, how often one client pays for a new connection.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

__all__ = ["CLIENT_HEADER", "ConnectionCounts"]

#: The request header that names a client for :class:`ConnectionCounts`.
CLIENT_HEADER = "x-emulator-client"


class ConnectionCounts:
    """Connections opened (in all, and per client) and connections open now. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_client: Counter[str] = Counter()
        self._opened = 0
        self._open = 0
        self._peak_open = 0

    def opened(self) -> None:
        with self._lock:
            self._opened += 1
            self._open += 1
            self._peak_open = max(self._peak_open, self._open)

    def closed(self) -> None:
        with self._lock:
            self._open -= 1

    def first_request(self, headers: dict[str, str], peer_ip: str) -> None:
        """Attribute a new connection to its client, at its first request."""
        client = headers.get(CLIENT_HEADER) or peer_ip
        with self._lock:
            self._by_client[client] += 1

    def reset(self) -> None:
        """Zero the counters; connections open now stay counted as open."""
        with self._lock:
            self._by_client.clear()
            self._opened = 0
            self._peak_open = self._open

    def snapshot(self) -> dict[str, Any]:
        """``{"opened": n, "open": n, "peak_open": n, "by_client": {client: n}}``."""
        with self._lock:
            return {
                "opened": self._opened,
                "open": self._open,
                "peak_open": self._peak_open,
                "by_client": dict(self._by_client),
            }
