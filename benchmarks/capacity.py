"""The emulator's own capacity, to show it is not what the contenders are waiting for.

A client as cheap as it gets (asyncio sockets, pre-built request bytes, responses framed by
``Content-Length`` or the chunked terminator, no parsing) keeps 32 keep-alive connections
busy for a fixed time. Requests per second, and its inverse, the server's time per request,
are compared with the best throughput any contender reached in the same run.
"""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlsplit

from benchmarks._contenders import PROMPT
from benchmarks._report import Report
from benchmarks._server import EmulatorProcess
from benchmarks.streaming import pieces

__all__ = ["run"]

_CONNECTIONS = 32
_SECONDS = 2.0


def _request(emu: EmulatorProcess, *, stream: bool) -> bytes:
    parts = urlsplit(emu.run_url)
    body = json.dumps({"messages": [{"role": "user", "content": PROMPT}], "stream": stream})
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {emu.token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body.encode()


async def _read_response(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    lowered = head.lower()
    marker = b"content-length:"
    if marker in lowered:
        length = int(lowered.split(marker, 1)[1].split(b"\r\n", 1)[0])
        await reader.readexactly(length)
    else:  # chunked: the body ends with the zero-length chunk
        await reader.readuntil(b"\r\n0\r\n\r\n")


async def _hammer(emu: EmulatorProcess, payload: bytes) -> float:
    parts = urlsplit(emu.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    deadline = time.perf_counter() + _SECONDS
    done = 0

    async def worker() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 24)
        try:
            while time.perf_counter() < deadline:
                writer.write(payload)
                await _read_response(reader)
                done += 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(_CONNECTIONS)))
    return done / (time.perf_counter() - start)


def run(emu: EmulatorProcess, report: Report) -> None:
    emu.reset()
    calls = asyncio.run(_hammer(emu, _request(emu, stream=False)))
    emu.clear_requests()
    emu.script_chunks(pieces(2_000), repeat=0)
    streams = asyncio.run(_hammer(emu, _request(emu, stream=True)))
    emu.reset()

    # The best any contender reached: sequential calls, or calls in the concurrent bursts.
    best_calls = 0.0
    best_streams = 0.0
    for key, values in report.raw.items():
        seconds = values.get("call_p50")
        if key == "floor" and seconds:
            best_calls = max(best_calls, 1 / seconds)
            stream = values.get("stream")
            if stream:
                best_streams = max(best_streams, 1 / stream)
        burst = values.get("conc_invoke")
        if key == "floor" and burst:
            best_calls = max(best_calls, 200 / burst)
    report.raw.setdefault("emulator", {}).update(calls=calls, streams=streams)
    line = (
        f"emulator capacity ({_CONNECTIONS} keep-alive connections, {_SECONDS:g} s each): "
        f"{calls:,.0f} calls/s ({1e6 / calls:.0f} µs of server per call), "
        f"{streams:,.0f} streams/s of 2,000 events ({1e3 / streams:.1f} ms each)"
    )
    if best_calls:
        line += f"; the fastest contender (the floor) reached {best_calls:,.0f} calls/s"
        report.check(
            calls >= 1.5 * best_calls,
            f"emulator not the bottleneck: capacity {calls:,.0f} calls/s ≥ 1.5x the "
            f"fastest contender's {best_calls:,.0f}",
        )
    if best_streams:
        line += f" and {best_streams:,.0f} streams/s"
    report.notes.append(line)
