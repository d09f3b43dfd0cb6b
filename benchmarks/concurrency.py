"""Scenario 3: bursts of 200 concurrent ``ainvoke`` / ``astream`` (LlamaIndex: ``achat`` /
``astream_chat``) against raw ``httpx.AsyncClient`` at the same concurrency.

Two bursts of each kind back to back per turn. Per burst: the wall time, the exceptions (none
allowed) and the connections the emulator saw opened (reconnects included: an httpx pool
keeps only its keep-alive quota of idle connections and closes the rest). After all
rounds, three times, every contender sits idle for longer than httpx's keep-alive expiry and
fires one more burst: a pool that stalls on its expired connections shows up there.

Everything async runs in one event loop, so the contenders' async clients stay bound to it.

The bursts run with the objects that existed before them frozen out of the garbage collector
(``gc.freeze``; ``CF_MISTRAL_BENCH_NO_FREEZE=1`` turns that off). This process holds every
contender's framework, several hundred thousand objects, and a full collection walks them all:
~100 ms, as long as a whole burst, landing on whichever contender's burst happens to trigger it
and moving its median by a third. Frozen, a collection walks only what the bursts allocated, so
each contender still pays for its own garbage, not for its neighbours' imports.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from benchmarks._contenders import Contender
from benchmarks._report import Report, Settings, fmt_ms, fmt_ratio
from benchmarks._server import EmulatorProcess
from benchmarks._stats import median, ratio

__all__ = ["close_all", "run", "run_frozen"]

_T = TypeVar("_T")


async def _consume(contender: Contender) -> str:
    return "".join([piece async for piece in contender.astream()])


async def _burst(
    emu: EmulatorProcess, call: Callable[[], Awaitable[str]], n: int
) -> tuple[float, int, int]:
    """(seconds, errors, connections opened) for ``n`` concurrent calls."""
    before = await asyncio.to_thread(emu.connections_opened)
    start = time.perf_counter()
    results = await asyncio.gather(*(call() for _ in range(n)), return_exceptions=True)
    elapsed = time.perf_counter() - start
    opened = await asyncio.to_thread(emu.connections_opened) - before
    errors = sum(isinstance(r, BaseException) for r in results)
    return elapsed, errors, opened


async def _main(
    emu: EmulatorProcess, contenders: dict[str, Contender], settings: Settings
) -> dict[str, dict[str, list[float]]]:
    n = settings.concurrency
    out: dict[str, dict[str, list[float]]] = {
        key: {"invoke": [], "stream": [], "errors": [], "opened": [], "warm": [], "idle": []}
        for key in contenders
    }
    keys = list(contenders)
    for index in range(1 + settings.burst_rounds):  # round 0 fills the pools: not timed
        shift = index % len(keys)
        for key in [*keys[shift:], *keys[:shift]]:
            contender = contenders[key]
            record = out[key]
            # Two bursts back to back: a pool whose bookkeeping grows with its idle
            # connections gets slower on the second (httpcore re-scans them all per request).
            for second in (False, True):
                invoke = await _burst(emu, contender.ainvoke, n)
                stream = await _burst(emu, lambda c=contender: _consume(c), n)
                record["errors"] += [invoke[1], stream[1]]
                record["opened"] += [invoke[2], stream[2]]
                if second:
                    # Right after the first pair: what a warm pool reopens. The first pair of
                    # a rotation may come after the other contenders' turns outlasted the 30 s
                    # keep-alive expiry, which is expiry, not churn.
                    record["warm"] += [invoke[2], stream[2]]
                if index:
                    record["invoke"].append(invoke[0])
                    record["stream"].append(stream[0])
        await asyncio.to_thread(emu.clear_requests)
    for index in range(settings.idle_rounds):
        await asyncio.sleep(settings.idle_seconds)
        shift = index % len(keys)
        for key in [*keys[shift:], *keys[:shift]]:
            elapsed, errors, opened = await _burst(emu, contenders[key].ainvoke, n)
            out[key]["idle"].append(elapsed)
            out[key]["errors"].append(errors)
            out[key]["opened"].append(opened)
    await close_all(contenders)
    return out


async def close_all(contenders: dict[str, Contender]) -> None:
    """Close every contender's clients, sync or async, in the loop that used them."""
    for contender in contenders.values():
        for close in contender.closers:
            result = close()
            if asyncio.iscoroutine(result):
                await result


def run_frozen(main: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run(main)`` with the objects from before frozen out of the GC (module doc)."""
    freeze = not os.environ.get("CF_MISTRAL_BENCH_NO_FREEZE")
    if freeze:
        gc.collect()
        gc.freeze()
    try:
        return asyncio.run(main)
    finally:
        if freeze:
            gc.unfreeze()


def run(
    emu: EmulatorProcess, contenders: dict[str, Contender], settings: Settings, report: Report
) -> None:
    emu.reset()
    freeze = not os.environ.get("CF_MISTRAL_BENCH_NO_FREEZE")
    out = run_frozen(_main(emu, contenders, settings))
    emu.reset()
    floor = out["floor"]
    base_invoke, base_stream = median(floor["invoke"]), median(floor["stream"])
    base_idle = median(floor["idle"])
    for key, record in out.items():
        invoke, stream, idle = (
            median(record["invoke"]),
            median(record["stream"]),
            median(record["idle"]),
        )
        if key == "floor":
            report.set(key, "conc_invoke", fmt_ms(invoke), invoke)
            report.set(key, "conc_stream", fmt_ms(stream), stream)
            report.set(key, "idle_burst", fmt_ms(idle), idle)
        else:
            report.set(
                key,
                "conc_invoke",
                fmt_ratio(ratio(invoke, base_invoke)),
                ratio(invoke, base_invoke),
            )
            report.set(
                key,
                "conc_stream",
                fmt_ratio(ratio(stream, base_stream)),
                ratio(stream, base_stream),
            )
            report.set(key, "idle_burst", fmt_ratio(ratio(idle, base_idle)), ratio(idle, base_idle))
        # The cold burst fills the pool; the later ones show whether it is reused.
        opened, warm = record["opened"], record["warm"]
        report.set(key, "conns", f"{opened[0]}/{max(warm)}", float(max(warm)))
        report.set(key, "errors", str(int(sum(record["errors"]))), float(sum(record["errors"])))
        report.raw.setdefault(key, {})["idle_vs_warm"] = ratio(idle, invoke)
    report.notes.append(
        f"concurrency: bursts of {settings.concurrency}, {settings.burst_rounds} timed rounds "
        f"after a pool-filling one; 'after idle' is the median of {settings.idle_rounds} ainvoke "
        f"bursts, each after {settings.idle_seconds:g} s idle; 'conns/burst' = opened in the "
        f"first burst / most opened in a warm burst (the second of two back-to-back pairs); "
        f"floor {fmt_ms(base_invoke)} per ainvoke "
        f"burst, {fmt_ms(base_stream)} per astream burst, {fmt_ms(base_idle)} after idle; "
        + ("objects from before the bursts frozen out of the GC" if freeze else "GC not frozen")
    )
