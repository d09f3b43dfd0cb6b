"""Scenario 7: bursts of 200 concurrent ``ainvoke`` / ``achat`` over HTTPS, as in production.

The emulator serves HTTPS with its generated certificate, answers after ``latency`` (50 ms)
and makes every new connection wait ``connect_delay`` (20 ms) before its first reply, as the
TCP and TLS round trips to a real edge do. A client that reuses its connections skips that
wait; one that closes them after each burst pays it again (and the TLS handshake's CPU).

Per contender: one cold burst (the pool fills), then pairs of bursts in rotation (the second
of a pair is the warm one measured), then, after idling longer than httpx's default keep-alive
expiry (5 s) and shorter than ours (30 s), one more burst each. Figures: the
warm bursts' median wall time (ratio to raw httpx), the connections the emulator saw opened
in the cold burst / the most in any warm burst / after idle, and the client's CPU time per
call (``time.process_time``, ratio to raw httpx).

The pool variants (core client, keep-alive 20 or 100 of 100 connections, our linear pool pass
or httpcore's own) run in the same rotation: they are the figures the pool decision rests on
(benchmarks/README.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from benchmarks._contenders import Contender, Unavailable, build
from benchmarks._report import Report, Settings, fmt_ms, fmt_ratio
from benchmarks._server import EmulatorProcess
from benchmarks._stats import median, ratio
from benchmarks.concurrency import close_all, run_frozen

__all__ = ["CONNECT_DELAY", "CONTENDER_KEYS", "LATENCY", "run"]

LATENCY = 0.050
CONNECT_DELAY = 0.020
CONTENDER_KEYS = ("floor", "core", "lc-ours", "lc-reference", "li-ours", "li-reference")
#: (key, keep-alive quota, linear pass) for the pool decision; max_connections stays 100.
POOL_VARIANTS = (
    ("pool-20-linear", 20, True),
    ("pool-100-linear", 100, True),
    ("pool-20-stock", 20, False),
    ("pool-100-stock", 100, False),
)


@dataclass
class _Record:
    walls: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    opened_cold: int = 0
    opened_warm: list[int] = field(default_factory=list)
    opened_idle: list[int] = field(default_factory=list)
    errors: int = 0


def _variant_client(keepalive: int, linear: bool) -> httpx.AsyncClient:
    """An httpx client as the core builds its own, with this keep-alive quota and pass."""
    from cf_mistral._client import _httpx_timeout, _pooled
    from cf_mistral._config import Timeouts

    client = httpx.AsyncClient(
        timeout=_httpx_timeout(Timeouts()),
        limits=httpx.Limits(
            max_connections=100, max_keepalive_connections=keepalive, keepalive_expiry=30
        ),
    )
    return _pooled(client) if linear else client


def _build(emu: EmulatorProcess, names: dict[str, str]) -> dict[str, Contender]:
    built: dict[str, Contender] = {}
    for key in CONTENDER_KEYS:
        try:
            built[key] = build(key, emu)
        except Unavailable:
            continue
    for key, keepalive, linear in POOL_VARIANTS:
        contender = build("core", emu, _variant_client(keepalive, linear))
        names[key] = f"core, keep-alive {keepalive}/100, {'linear' if linear else 'httpcore'} pass"
        built[key] = contender
    return built


async def _burst(
    emu: EmulatorProcess, call: Callable[[], Awaitable[str]], n: int
) -> tuple[float, float, int, int]:
    """(wall seconds, CPU seconds, errors, connections opened) for ``n`` concurrent calls."""
    before = emu.connections()["opened"]
    cpu = time.process_time()
    start = time.perf_counter()
    results = await asyncio.gather(*(call() for _ in range(n)), return_exceptions=True)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu
    opened = emu.connections()["opened"] - before
    errors = sum(isinstance(r, BaseException) for r in results)
    return wall, cpu, errors, opened


async def _main(
    emu: EmulatorProcess, contenders: dict[str, Contender], settings: Settings
) -> dict[str, _Record]:
    n = settings.concurrency
    out = {key: _Record() for key in contenders}
    keys = list(contenders)
    for key in keys:  # the cold bursts: every pool fills
        wall, cpu, errors, opened = await _burst(emu, contenders[key].ainvoke, n)
        out[key].opened_cold = opened
        out[key].errors += errors
    for index in range(settings.tls_burst_rounds):
        shift = index % len(keys)
        for key in [*keys[shift:], *keys[:shift]]:
            # Two bursts back to back; the second is the warm one. A whole rotation can
            # outlast a keep-alive expiry on a loaded host, and a pool that dropped expired
            # connections has done right; that is the 'after idle' column's business.
            first = await _burst(emu, contenders[key].ainvoke, n)
            wall, cpu, errors, opened = await _burst(emu, contenders[key].ainvoke, n)
            record = out[key]
            record.errors += first[2]
            record.walls.append(wall)
            record.cpu.append(cpu)
            record.opened_warm.append(opened)
            record.errors += errors
    for key in keys:  # each contender's last call, in the order of the idle bursts below:
        await _burst(emu, contenders[key].ainvoke, n)  # every one idles just as long
    await asyncio.sleep(settings.idle_seconds)
    for key in keys:
        wall, cpu, errors, opened = await _burst(emu, contenders[key].ainvoke, n)
        out[key].opened_idle.append(opened)
        out[key].errors += errors
    await close_all(contenders)
    return out


def run(report: Report, settings: Settings) -> None:
    with EmulatorProcess(tls=True) as emu:
        emu.configure(latency=LATENCY, connect_delay=CONNECT_DELAY)
        contenders = _build(emu, report.names)
        out = run_frozen(_main(emu, contenders, settings))
    n = settings.concurrency
    floor = out["floor"]
    base_wall, base_cpu = median(floor.walls), median(floor.cpu)
    for key, record in out.items():
        wall, cpu = median(record.walls), median(record.cpu)
        if key == "floor":
            report.set(key, "tls_burst", fmt_ms(wall), wall)
            report.set(key, "tls_cpu", f"{cpu / n * 1e6:.0f}µs", cpu / n)
        else:
            report.set(key, "tls_burst", fmt_ratio(ratio(wall, base_wall)), ratio(wall, base_wall))
            report.set(key, "tls_cpu", fmt_ratio(ratio(cpu, base_cpu)), ratio(cpu, base_cpu))
        warm, idle = max(record.opened_warm), max(record.opened_idle)
        report.set(key, "tls_conns", f"{record.opened_cold}/{warm}/{idle}", float(warm))
        report.set(key, "tls_idle_conns", str(idle), float(idle))
        report.set(key, "tls_errors", str(record.errors), float(record.errors))
    report.notes.append(
        f"HTTPS bursts: {n} concurrent ainvoke/achat, {LATENCY * 1000:.0f} ms server latency, "
        f"{CONNECT_DELAY * 1000:.0f} ms connection setup; a cold burst, then "
        f"{settings.tls_burst_rounds} rotated pairs of bursts (the second of each timed), "
        "then one burst after "
        f"{settings.idle_seconds:g} s + one rotation idle; 'HTTPS conns' = "
        "opened in the cold burst / most in a warm burst / after idle; floor "
        f"{fmt_ms(base_wall)} per warm burst, {base_cpu / n * 1e6:.0f} µs of client CPU per call"
    )
