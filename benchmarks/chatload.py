"""Scenario 8: a chat server's load, 1,000 concurrent streams over HTTPS.

The emulator serves HTTPS and paces every stream at 20 ms between events, 300 events each
(``--quick``: 200 streams of 100 events). Each event's text is the time the server wrote it
(the emulator's ``{send_time}`` stamp, ``time.monotonic()``: one clock for every process of
the machine), so the consumer, on receiving a piece, knows how long the event took from the
server's write to the caller's hands: the delay the client adds (loopback transit included,
the same for every contender).

One fresh process per contender (``python -m benchmarks.chatload KEY URL STREAMS EVENTS``)
opens all streams at once with the connection limit raised to the number of streams, as users
do: the ``max_connections`` option of the core client and of both adapters, and for raw httpx
and the thinnest subclasses an injected ``httpx.AsyncClient`` with those limits. It reports the
client's CPU time per event, its peak RSS growth per open stream (sampled every 20 ms, and
``ru_maxrss``), its peak of open file descriptors, and the p50 / p99 / max of the added delay.
The parent measures the emulator's CPU over the same interval, to show whether the server kept
up.
"""

from __future__ import annotations

import asyncio
import gc
import json
import math
import os
import resource
import subprocess
import sys
import threading
import time

import httpx

from benchmarks._report import Report, Settings, fmt_ratio
from benchmarks._server import EmulatorProcess
from benchmarks._stats import ratio

__all__ = ["CONTENDER_KEYS", "run"]

CONTENDER_KEYS = ("floor", "core", "lc-ours", "lc-reference", "li-ours", "li-reference")
#: The core client with its default limits (100 connections): how streams beyond them queue.
_DEFAULT_LIMITS = "core-default-limits"
_WARMUP_EVENTS = 5
_STAMP = "{send_time} "


class _Sampler(threading.Thread):
    """Peak RSS and peak open file descriptors of this process, every 20 ms."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        import psutil

        self._process = psutil.Process()
        self.rss_before = self._process.memory_info().rss
        self.peak_rss = self.rss_before
        self.fds_before = self._process.num_fds()
        self.peak_fds = self.fds_before
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.02):
            self.peak_rss = max(self.peak_rss, self._process.memory_info().rss)
            self.peak_fds = max(self.peak_fds, self._process.num_fds())

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def _percentile(ordered: list[float], share: float) -> float:
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _child_main(key: str, url: str, streams: int) -> dict[str, float]:
    from benchmarks._contenders import CONTENDERS, build, core

    emu = EmulatorProcess(url)
    client: httpx.AsyncClient | None = None
    if key == _DEFAULT_LIMITS:  # the core client as built, with its default limits
        contender = build("core", emu)
    elif key == "core":  # its own option, which keeps its pool (and pool pass)
        contender = core(emu, max_connections=streams)
    elif key in ("lc-ours", "li-ours"):  # the adapters' own option, as for the core
        contender = CONTENDERS[key](emu, max_connections=streams)
    else:
        limits = httpx.Limits(max_connections=streams, max_keepalive_connections=streams)
        client = httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(60.0))
        contender = build(key, emu, client)
    async for _ in contender.astream():  # warm-up: one short stream
        pass
    gc.collect()
    max_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    delays: list[float] = []
    firsts: list[float] = []  # each stream's first piece, after the start of all
    record = delays.append
    clock = time.monotonic
    opened_at = clock()

    async def consume() -> None:
        first = True
        async for piece in contender.astream():
            now = clock()
            if first:
                firsts.append(now - opened_at)
                first = False
            for stamp in piece.split():
                record(now - float(stamp))

    sampler = _Sampler()
    sampler.start()
    cpu = time.process_time()
    start = time.perf_counter()
    results = await asyncio.gather(*(consume() for _ in range(streams)), return_exceptions=True)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    sampler.stop()
    max_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    peak = max(sampler.peak_rss, max_after if max_after > max_before else 0)
    errors = [r for r in results if isinstance(r, BaseException)]
    if client is not None:
        await client.aclose()
    delays.sort()
    firsts.sort()
    return {
        "events": len(delays),
        "cpu": cpu,
        "wall": wall,
        "rss_growth": peak - sampler.rss_before,
        "fds": sampler.peak_fds,
        "fds_before": sampler.fds_before,
        "p50": _percentile(delays, 0.50),
        "p99": _percentile(delays, 0.99),
        "max": delays[-1] if delays else math.nan,
        "first_p50": _percentile(firsts, 0.50),
        "first_max": firsts[-1] if firsts else math.nan,
        "errors": len(errors),
        "error": repr(errors[0]) if errors else "",
    }


def _measure(
    emu: EmulatorProcess, key: str, settings: Settings, streams: int, events: int
) -> dict[str, float] | str:
    import psutil

    emu.reset()
    emu.configure(stream_interval=settings.chat_interval)
    emu.script_chunks([_STAMP] * _WARMUP_EVENTS, repeat=1)
    emu.script_chunks([_STAMP] * events, repeat=0)
    server = psutil.Process(emu.pid)
    server_cpu = sum(server.cpu_times()[:2])
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.chatload",
            key,
            emu.url,
            str(streams),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["?"]
        return tail[0]
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    # The server's CPU over the child's whole life (start-up and warm-up are idle for it).
    result["server_busy"] = (sum(server.cpu_times()[:2]) - server_cpu) / max(elapsed, 1e-9)
    result["child_seconds"] = elapsed
    result["opened"] = emu.connections()["opened"]
    result["server_cpu"] = sum(server.cpu_times()[:2]) - server_cpu
    return result


def _scale(settings: Settings) -> tuple[int, int]:
    """Streams and events per stream: the settings', or ``CF_MISTRAL_BENCH_CHAT=STREAMSxEVENTS``."""
    given = os.environ.get("CF_MISTRAL_BENCH_CHAT", "")
    if given:
        streams, events = given.lower().split("x")
        return int(streams), int(events)
    return settings.chat_streams, settings.chat_events


def run(report: Report, settings: Settings) -> None:
    streams, events = _scale(settings)
    results: dict[str, dict[str, float]] = {}
    with EmulatorProcess(tls=True) as emu:
        for key in CONTENDER_KEYS:
            outcome = _measure(emu, key, settings, streams, events)
            if isinstance(outcome, str):
                report.set(key, "chat_cpu", "failed")
                report.notes.append(f"chat load, {key}: {outcome}")
                continue
            results[key] = outcome
        queued = _measure(emu, _DEFAULT_LIMITS, settings, 3 * 100, events)
        emu.reset()
    if isinstance(queued, str):
        report.notes.append(f"chat load, default limits: {queued}")
    else:
        stream_time = events * settings.chat_interval
        report.notes.append(
            "chat load, the core client's default limits (100 connections, pool timeout 60 s): "
            f"300 concurrent streams of {stream_time:.1f} s took {queued['wall']:.1f} s, "
            f"{int(queued['opened'])} connections; a stream's first event came "
            f"{queued['first_p50']:.1f} s (median) and {queued['first_max']:.1f} s (last) after "
            "the start: beyond 100, streams wait in line (oldest first) for a connection, "
            "and one that waits longer than the pool timeout fails with APITimeoutError"
        )
    if "floor" not in results:
        return
    expected = streams * events
    floor_cpu = results["floor"]["cpu"] / max(results["floor"]["events"], 1)
    lines = []
    for key, result in results.items():
        per_event = result["cpu"] / max(result["events"], 1)
        if key == "floor":
            report.set(key, "chat_cpu", f"{per_event * 1e6:.1f}µs", per_event)
        else:
            share = ratio(per_event, floor_cpu)
            report.set(key, "chat_cpu", fmt_ratio(share), share)
        report.set(
            key,
            "chat_delay",
            f"{result['p99'] * 1000:.1f}/{result['max'] * 1000:.0f}ms",
            result["p99"],
        )
        report.raw[key]["chat_delay_max"] = result["max"]
        # Per stream open at the peak: on a saturated client the first streams end before
        # the last ones connect, so fewer than all of them are ever open at once.
        open_at_peak = max(result["fds"] - result["fds_before"], 1)
        per_stream = result["rss_growth"] / open_at_peak
        report.set(key, "chat_rss", f"{per_stream / 1024:.0f}KB", per_stream)
        report.set(key, "chat_fds", f"{int(result['fds'])}", result["fds"])
        missing = expected - int(result["events"])
        report.set(key, "chat_errors", f"{int(result['errors'])}", result["errors"] + missing)
        if result["errors"]:
            report.notes.append(
                f"chat load, {key}: {int(result['errors'])} errors: {result['error']}"
            )
        name = report.names.get(key, key)
        lines.append(
            f"{name} {result['wall']:.1f} s ({result['events'] / result['wall']:,.0f} events/s),"
            f" server {result['server_busy']:.0%} of a core, "
            f"{int(result['opened'])} connections"
        )
    served = [r["server_cpu"] / max(r["events"], 1) for r in results.values()]
    client_best = min(r["cpu"] / max(r["events"], 1) for r in results.values())
    report.notes.append(
        f"emulator under the chat load: {min(served) * 1e6:.0f}-{max(served) * 1e6:.0f} µs "
        "of its CPU per event (pacing timer, h11, TLS write), so one emulator process serves "
        f"~{1 / max(served):,.0f} events/s or more on one core; the cheapest client took "
        f"{client_best * 1e6:.0f} µs per event (~{1 / client_best:,.0f} events/s on one core)"
    )
    report.notes.append(
        f"chat load (HTTPS): {streams:,} concurrent streams x {events} events, "
        f"{settings.chat_interval * 1000:.0f} ms apart ({streams / settings.chat_interval:,.0f} "
        f"events/s asked of the server), a fresh process per contender, max_connections={streams} "
        "(ours through their max_connections option; raw httpx and the thinnest subclasses "
        "through an injected httpx.AsyncClient); "
        "added delay = the consumer's time.monotonic() "
        "minus the server's stamp at write; RSS/stream = peak RSS growth / streams open at the "
        "peak (file descriptors over the idle process's); fds = peak open file descriptors; "
        f"floor {floor_cpu * 1e6:.1f} µs of client CPU per event. "
        f"Wall time (ideal {events * settings.chat_interval:.1f} s), emulator CPU, connections "
        "opened: " + "; ".join(lines)
    )


if __name__ == "__main__":
    outcome = asyncio.run(_child_main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    print(json.dumps(outcome))
