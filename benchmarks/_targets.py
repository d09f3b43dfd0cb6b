"""The issue's targets, checked against the figures of this run (PASS / MISS lines)."""

from __future__ import annotations

import math

from benchmarks._report import Report

__all__ = ["judge"]

PEERS = ("lc-cloudflare", "lc-mistral", "lc-openai", "li-openai-like")
OURS = {"lc-ours": "lc-reference", "li-ours": "li-reference"}
#: columns where the figure is a time ratio to the floor (lower is better)
TIMED = ("call_p50", "call_p90", "stream", "ttft", "conc_invoke", "conc_stream", "idle_burst")
CORE_TIMED = ("call_p50", "stream", "conc_invoke", "conc_stream")


def _present(report: Report, key: str, column: str) -> bool:
    return not math.isnan(report.value(key, column))


def judge(report: Report) -> None:
    value = report.value
    for column in CORE_TIMED:
        if _present(report, "core", column):
            figure = value("core", column)
            report.check(figure <= 1.10, f"core client {column} {figure:.2f}x ≤ 1.10x the floor")

    for ours, reference in OURS.items():
        if ours not in report.cells:
            continue
        for column in TIMED:
            peers = [value(p, column) for p in PEERS if _present(report, p, column)]
            if peers and _present(report, ours, column):
                best = min(peers)
                share = value(ours, column) / best
                report.check(share < 1.0, f"{ours} {column}: {share:.2f} of the best peer (< 1.0)")
        for column in CORE_TIMED:
            if _present(report, ours, column) and _present(report, reference, column):
                share = value(ours, column) / value(reference, column)
                report.check(
                    share <= 1.10, f"{ours} {column}: {share:.2f}x the thinnest subclass (≤ 1.10)"
                )
        if _present(report, ours, "import"):
            ms = value(ours, "import") * 1000
            report.check(ms <= 100, f"{ours} import +{ms:.0f} ms over its framework (≤ 100)")

    for key in ("core", *OURS):
        if key not in report.cells:
            continue
        if _present(report, key, "requests"):
            report.check(value(key, "requests") == 2, f"{key}: one request per call and stream")
        if _present(report, key, "same_text"):
            report.check(value(key, "same_text") == 1, f"{key}: the floor's text")
        if _present(report, key, "conns_per_stream"):
            figure = value(key, "conns_per_stream")
            report.check(figure == 0, f"{key}: {figure:g} new connections per stream (0)")
        if _present(report, key, "errors"):
            report.check(value(key, "errors") == 0, f"{key}: no errors in the bursts")
        if _present(report, key, "idle_burst"):
            # A stall is seconds; the floor's own pool also reconnects after the idle period.
            figure = value(key, "idle_burst")
            report.check(
                figure <= 1.5,
                f"{key}: burst after idle {figure:.2f}x the floor's (no stall, ≤ 1.5)",
            )
        if _present(report, key, "memory"):
            figure = value(key, "memory")
            report.check(figure <= 3.0, f"{key}: streaming peak RSS {figure:.1f}x the reply (≤ 3)")
