"""HTTP/1.1 server on asyncio + h11: keep-alive, chunked streams, socket-level faults."""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import socket
import ssl
import struct
import time

import h11

from ._connections import ConnectionCounts
from ._faults import FaultKind
from ._handler import Plan, handle, sse, too_large_plan
from ._state import State

__all__ = ["SEND_TIME_MARKER", "Server"]

_READ_SIZE = 65536
_BATCH_BYTES = 64 * 1024

#: Text in a stream event that the server replaces with ``time.monotonic()`` as it writes the
#: event: the monotonic clock is shared by the processes of one machine, so a consumer on the
#: same machine can tell how long an event took from the server's write to its own hands.
SEND_TIME_MARKER = "{send_time}"
_MARKER = SEND_TIME_MARKER.encode()
_CONNECTIONS_PATH = "/__emulator/connections"


def _stamped(data: bytes) -> bytes:
    if _MARKER in data:
        return data.replace(_MARKER, b"%.6f" % time.monotonic())
    return data


def _reason(status: int) -> bytes:
    try:
        return http.HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


class _Abort(Exception):  # noqa: N818
    """Drop the connection now."""


class Server:
    """Serves one :class:`State` on a listening socket inside an asyncio loop."""

    def __init__(self, state: State, ssl_context: ssl.SSLContext | None = None) -> None:
        self.state = state
        self.connections = ConnectionCounts()
        self._ssl = ssl_context
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self, host: str, port: int) -> int:
        self._server = await asyncio.start_server(
            self._connection, host, port, reuse_address=True, backlog=1024, ssl=self._ssl
        )
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    # -- connection loop -------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        self.state.count_connection()
        self.connections.opened()
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        peer = writer.get_extra_info("peername")
        peer_ip = str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"
        first = True
        try:
            # The connection's setup cost (TCP and TLS round trips at a real edge), paid once,
            # before its first reply: a client that reuses connections does not pay it again.
            if self.state.config.connect_delay > 0:
                await asyncio.sleep(self.state.config.connect_delay)
            while True:
                keep = await self._one_request(conn, reader, writer, peer_ip if first else None)
                first = False
                if not keep or conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    break
                conn.start_next_cycle()
        except (_Abort, ConnectionError, asyncio.CancelledError, h11.ProtocolError, OSError):
            pass
        finally:
            self.connections.closed()
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _next_event(self, conn: h11.Connection, reader: asyncio.StreamReader) -> object:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(_READ_SIZE)
                conn.receive_data(data)
                continue
            return event

    async def _one_request(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        first_from: str | None = None,
    ) -> bool:
        """Answer one request; ``first_from``: the peer's IP on a connection's first request."""
        try:
            event = await self._next_event(conn, reader)
        except h11.RemoteProtocolError:
            await self._send_simple(conn, writer, Plan(status=400, body=b"bad request"))
            return False
        if not isinstance(event, h11.Request):
            return False
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers}
        method = event.method.decode("ascii")
        target = event.target.decode("latin-1")
        if first_from is not None:
            self.connections.first_request(headers, first_from)
        limit = self.state.config.max_request_bytes
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > limit and not target.startswith("/__emulator/"):
            # answer without reading the body, then close
            await self._send_simple(
                conn, writer, too_large_plan(self.state, method, target, headers)
            )
            return False
        chunks: list[bytes] = []
        size = 0
        while True:
            event = await self._next_event(conn, reader)
            if isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
                size += len(event.data)
                if size > limit + 1024 * 1024:
                    raise _Abort
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                return False
        plan = self._connections_admin(method, target)
        if plan is None:
            plan = handle(self.state, method, target, headers, b"".join(chunks))
        if plan.reset:
            self._reset(writer)
            raise _Abort
        if plan.latency > 0:
            await asyncio.sleep(plan.latency)
        if plan.events is None:
            return await self._send_simple(conn, writer, plan)
        return await self._send_stream(conn, writer, plan)

    def _connections_admin(self, method: str, target: str) -> Plan | None:
        """``GET``/``DELETE /__emulator/connections``; a reset zeroes the counts too."""
        path = target.split("?", 1)[0].rstrip("/")
        if path == "/__emulator/reset" and method == "POST":
            self.connections.reset()  # and on to the handler, which resets the rest
            return None
        if path != _CONNECTIONS_PATH:
            return None
        if method == "DELETE":
            self.connections.reset()
        elif method != "GET":
            return Plan(status=405, body=b'{"ok":false,"error":"use GET or DELETE"}')
        return Plan(body=json.dumps({"ok": True, **self.connections.snapshot()}).encode())

    # -- writing ---------------------------------------------------------------------
    @staticmethod
    def _reset(writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    @staticmethod
    def _header_list(plan: Plan, extra: dict[str, str]) -> list[tuple[str, str]]:
        headers = [("content-type", plan.content_type), *plan.headers.items(), *extra.items()]
        if plan.close:
            headers.append(("connection", "close"))
        return headers

    async def _send_simple(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, plan: Plan
    ) -> bool:
        fault = plan.fault
        body = plan.body
        headers = self._header_list(plan, {"content-length": str(len(body))})
        head = conn.send(
            h11.Response(status_code=plan.status, headers=headers, reason=_reason(plan.status))
        )
        assert head is not None
        if fault is not None and fault.kind in (FaultKind.truncated_stream, FaultKind.stall):
            half = len(body) // 2
            writer.write(head + (conn.send(h11.Data(data=body[:half])) or b""))
            await writer.drain()
            if fault.kind is FaultKind.truncated_stream:
                writer.transport.abort()
                raise _Abort
            await asyncio.sleep(fault.stall_seconds)
            body = body[half:]
            head = b""
        out = (
            head + (conn.send(h11.Data(data=body)) or b"") + (conn.send(h11.EndOfMessage()) or b"")
        )
        writer.write(out)
        await writer.drain()
        return not plan.close

    async def _send_stream(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, plan: Plan
    ) -> bool:
        events = list(plan.events or [])
        fault = plan.fault
        stop_after: int | None = None  # send only events[:stop_after], then end
        stall_at: int | None = None
        clean_end = True
        if fault is not None:
            n = max(0, fault.after_events)
            if fault.kind is FaultKind.truncated_stream:
                last = (
                    len(events) - 1
                    if events and events[-1].startswith(b"data: [DONE]")
                    else len(events)
                )
                stop_after = min(n, last)
                clean_end = fault.clean_close
            elif fault.kind is FaultKind.stall:
                stall_at = min(n, len(events))
            elif fault.kind is FaultKind.malformed_sse:
                events.insert(min(n, len(events)), b"data: {not json\n\n")
            elif fault.kind is FaultKind.inband_error:
                status, code, message = fault.resolved()
                del status
                events = events[:n]
                events.append(sse({"errors": [{"code": code, "message": message}]}))
                stop_after = len(events)
        if stop_after is not None:
            events = events[:stop_after]

        headers = self._header_list(plan, {})
        head = conn.send(
            h11.Response(status_code=plan.status, headers=headers, reason=_reason(plan.status))
        )
        assert head is not None
        writer.write(head)
        if stall_at is not None:
            await self._write_events(conn, writer, events[:stall_at], plan.interval)
            await writer.drain()
            assert fault is not None
            await asyncio.sleep(fault.stall_seconds)
            events = events[stall_at:]
        await self._write_events(conn, writer, events, plan.interval)
        if not clean_end:
            await writer.drain()
            writer.transport.abort()
            raise _Abort
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()
        if fault is not None and fault.kind is FaultKind.truncated_stream:
            return False
        return not plan.close

    @staticmethod
    async def _write_events(
        conn: h11.Connection, writer: asyncio.StreamWriter, events: list[bytes], interval: float
    ) -> None:
        if interval > 0:
            for i, event in enumerate(events):
                if i:
                    await asyncio.sleep(interval)
                writer.write(conn.send(h11.Data(data=_stamped(event))) or b"")
                await writer.drain()
            return
        batch: list[bytes] = []
        size = 0
        for event in events:
            batch.append(event)
            size += len(event)
            if size >= _BATCH_BYTES:
                writer.write(conn.send(h11.Data(data=_stamped(b"".join(batch)))) or b"")
                await writer.drain()
                batch, size = [], 0
        if batch:
            writer.write(conn.send(h11.Data(data=_stamped(b"".join(batch)))) or b"")
            await writer.drain()
