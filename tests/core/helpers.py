"""Helpers of the transport-core tests (fixtures live in ``conftest.py``)."""

from __future__ import annotations

import base64
import contextlib
import http.server
import socket
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cf_mistral import (
    MODEL_INPUT_KEYS,
    AsyncWorkersAIClient,
    ChatRequest,
    ChatResult,
    StreamEvent,
    WorkersAIClient,
)

RECORDINGS = Path(__file__).parent / "recordings"


# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
PNG_DATA_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()

WEATHER_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "City name"}},
    "required": ["city"],
}


def find_nulls(value: Any, path: str = "") -> list[str]:
    """JSON paths of every ``null`` in ``value``."""
    if value is None:
        return [path or "/"]
    if isinstance(value, Mapping):
        return [p for key, item in value.items() for p in find_nulls(item, f"{path}/{key}")]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in find_nulls(item, f"{path}/{i}")]
    return []


def assert_clean_wire_body(body: Any) -> None:
    """What the issue demands of every body the client sends to ``/ai/run``."""
    assert isinstance(body, dict), body
    assert not find_nulls(body), f"null values at {find_nulls(body)}"
    assert set(body) <= MODEL_INPUT_KEYS, f"keys outside the schema: {set(body) - MODEL_INPUT_KEYS}"
    assert "tool_choice" not in body
    assert "response_format" not in body
    assert "functions" not in body
    assert isinstance(body.get("max_tokens"), int), "max_tokens must always be explicit"
    for tool in body.get("tools", []):
        function = tool["function"]
        assert tool["type"] == "function"
        assert isinstance(function["description"], str)
        for spec in function["parameters"].get("properties", {}).values():
            assert isinstance(spec.get("description"), str)


@dataclass
class Driver:
    """One client, sync or async, behind one awaitable interface."""

    sync: bool
    client: WorkersAIClient | AsyncWorkersAIClient

    async def chat(self, request: ChatRequest, **kwargs: Any) -> ChatResult:
        if isinstance(self.client, WorkersAIClient):
            return self.client.chat(request, **kwargs)
        return await self.client.chat(request, **kwargs)

    async def stream(self, request: ChatRequest, **kwargs: Any) -> list[StreamEvent]:
        if isinstance(self.client, WorkersAIClient):
            return list(self.client.stream(request, **kwargs))
        return [event async for event in self.client.stream(request, **kwargs)]

    async def stream_until_error(
        self, request: ChatRequest
    ) -> tuple[list[StreamEvent], BaseException | None]:
        """The events yielded before the stream raised, and what it raised."""
        events: list[StreamEvent] = []
        try:
            if isinstance(self.client, WorkersAIClient):
                for event in self.client.stream(request):
                    events.append(event)
            else:
                async for event in self.client.stream(request):
                    events.append(event)
        except Exception as error:
            return events, error
        return events, None

    async def close(self) -> None:
        if isinstance(self.client, WorkersAIClient):
            self.client.close()
        else:
            await self.client.aclose()


class DriverFactory:
    def __init__(self, sync: bool, connection: dict[str, Any]) -> None:
        self.sync = sync
        self.connection = connection
        self.made: list[Driver] = []

    def __call__(self, **options: Any) -> Driver:
        settings_: dict[str, Any] = {
            **self.connection,
            "timeout": {"stream_idle": 5, "read": 10},
            "max_retries": 0,
            **options,
        }
        client: WorkersAIClient | AsyncWorkersAIClient = (
            WorkersAIClient(**settings_) if self.sync else AsyncWorkersAIClient(**settings_)
        )
        driver = Driver(self.sync, client)
        self.made.append(driver)
        return driver


@contextlib.contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server for ``handler`` on loopback while the block runs: its root URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class LoopbackServer:
    """A raw HTTP/1.1 server on 127.0.0.1 counting the bytes it sends.

    ``routes`` map a path (``"*"``: any other) to a function returning the reply's bytes lazily.
    With ``tls`` (a server-side context) it speaks HTTPS.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self._tls = tls
        self.routes: dict[str, Callable[[], Iterator[bytes]]] = {}
        self.bytes_sent = 0
        self.requests: list[str] = []
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._socket.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        if self._tls is not None:
            try:
                conn = self._tls.wrap_socket(conn, server_side=True)
            except OSError:  # the client refused the certificate
                conn.close()
                return
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(65536)
                if not data:
                    return
                head += data
            path = head.split(b" ")[1].decode()
            self.requests.append(path)
            route = self.routes.get(path.split("?")[0]) or self.routes.get("*")
            parts = (
                route() if route else iter([b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"])
            )
            try:
                for part in parts:
                    conn.sendall(part)
                    self.bytes_sent += len(part)
            except OSError:
                return  # the client stopped reading and closed

    def close(self) -> None:
        self._socket.close()


def head(status: str, *headers: str) -> bytes:
    return ("HTTP/1.1 " + status + "\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n").encode()
