"""Scenario 1: non-streaming call latency, sequential, after warm-up (median and p90).

Before timing, each contender makes one call and one stream against an emptied request log:
it must cause exactly one request each and return the floor's text.
"""

from __future__ import annotations

import time

from benchmarks._contenders import Contender
from benchmarks._report import Report, Settings, fmt_ms, fmt_ratio
from benchmarks._server import EmulatorProcess
from benchmarks._stats import median, p90, paired, ratio

__all__ = ["run"]


def check_requests_and_text(
    emu: EmulatorProcess, contenders: dict[str, Contender], report: Report
) -> None:
    emu.reset()
    expected = contenders["floor"].invoke()
    for key, contender in contenders.items():
        emu.clear_requests()
        text = contender.invoke()
        calls = len(emu.requests())
        streamed = "".join(contender.stream())
        streams = len(emu.requests()) - calls
        report.set(key, "requests", f"{calls}+{streams}", float(calls + streams))
        same = text == expected and streamed == expected
        report.set(key, "same_text", "yes" if same else "NO", float(same))
        if not same:
            report.notes.append(f"{contender.name}: text differs: {text!r} / {streamed!r}")
    emu.reset()


def run(
    emu: EmulatorProcess, contenders: dict[str, Contender], settings: Settings, report: Report
) -> None:
    check_requests_and_text(emu, contenders, report)

    def measure(key: str) -> float:
        call = contenders[key].invoke
        start = time.perf_counter()
        call()
        return time.perf_counter() - start

    pairs = paired(
        list(contenders),
        measure,
        baseline="floor",
        rounds=settings.call_rounds,
        warmup=settings.call_warmup,
    )
    emu.clear_requests()  # the emulator keeps every request; do not let it grow all run
    floor = [value for _, base in pairs.values() for value in base]
    base50, base90 = median(floor), p90(floor)
    report.set("floor", "call_p50", fmt_ms(base50), base50)
    report.set("floor", "call_p90", fmt_ms(base90), base90)
    for key, (values, base) in pairs.items():
        r50, r90 = ratio(median(values), median(base)), ratio(p90(values), p90(base))
        report.set(key, "call_p50", fmt_ratio(r50), r50)
        report.set(key, "call_p90", fmt_ratio(r90), r90)
    report.notes.append(
        f"call: per contender, {settings.call_rounds} (contender, raw httpx) pairs after "
        f"{settings.call_warmup} warm-up; floor {fmt_ms(base50)} median, {fmt_ms(base90)} p90"
    )
