"""``python -m benchmarks [--quick] [--only latency,streaming,...]``: prints one table.

The emulator runs in its own process on loopback; every figure is a ratio to raw httpx
measured in the same run (the floor's own row holds its absolute figures).
"""

from __future__ import annotations

import argparse
import sys
import time

from benchmarks import (
    capacity,
    chatload,
    concurrency,
    imports,
    latency,
    memory,
    streaming,
    tls_bursts,
)
from benchmarks._contenders import CONTENDERS, build_all
from benchmarks._machine import describe
from benchmarks._report import Report, Settings
from benchmarks._server import EmulatorProcess
from benchmarks._targets import judge

SCENARIOS = (
    "latency",
    "streaming",
    "concurrency",
    "imports",
    "memory",
    "capacity",
    "tls_bursts",
    "chatload",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a few minutes)")
    parser.add_argument(
        "--only", default=",".join(SCENARIOS), help=f"comma-separated subset of {SCENARIOS}"
    )
    parser.add_argument(
        "--contenders",
        default="",
        help=f"comma-separated subset of {tuple(CONTENDERS)} (the floor is always included)",
    )
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; choose from {SCENARIOS}")
    picked = {c.strip() for c in args.contenders.split(",") if c.strip()}
    if picked - set(CONTENDERS):
        parser.error(f"unknown contender(s) {sorted(picked - set(CONTENDERS))}")
    settings = Settings(quick=args.quick)
    started = time.perf_counter()

    with EmulatorProcess() as emu:
        contenders, missing = build_all(emu, {"floor", *picked} if picked else None)
        names = {key: contenders[key].name for key in contenders}
        for key in missing:
            names[key] = f"{CONTENDERS[key].__name__} (not available)"
        report = Report(names={key: names[key] for key in CONTENDERS if key in names})
        for key, why in missing.items():
            report.notes.append(f"{key}: {why}")
        steps = {
            "latency": lambda: latency.run(emu, contenders, settings, report),
            "streaming": lambda: streaming.run(emu, contenders, settings, report),
            "concurrency": lambda: concurrency.run(emu, contenders, settings, report),
            "imports": lambda: imports.run(report, settings, list(contenders)),
            "memory": lambda: memory.run(emu, list(contenders), settings, report),
            "capacity": lambda: capacity.run(emu, report),
            # Their own HTTPS emulator process each, with production latencies.
            "tls_bursts": lambda: tls_bursts.run(report, settings),
            "chatload": lambda: chatload.run(report, settings),
        }
        for name in SCENARIOS:
            if name in chosen:
                step_start = time.perf_counter()
                print(f"… {name}", file=sys.stderr, flush=True)
                steps[name]()
                print(
                    f"  {name} took {time.perf_counter() - step_start:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )

    judge(report)
    print(describe())
    print()
    print(report.render())
    print(
        f"\n(total run time {time.perf_counter() - started:.0f} s"
        f"{', --quick' if settings.quick else ''})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
