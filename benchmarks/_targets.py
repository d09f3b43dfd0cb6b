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

    _judge_production(report)


def _judge_production(report: Report) -> None:
    """The production scenarios' targets: HTTPS bursts and the chat server's load."""
    value = report.value
    for column, label in (("tls_burst", "HTTPS burst wall time"), ("tls_cpu", "CPU per call")):
        if _present(report, "core", column):
            figure = value("core", column)
            report.check(figure <= 1.10, f"core {label} {figure:.2f}x ≤ 1.10x the floor")
    for ours, reference in OURS.items():
        for column in ("tls_burst", "tls_cpu", "chat_cpu"):
            if _present(report, ours, column) and _present(report, reference, column):
                share = value(ours, column) / value(reference, column)
                report.check(
                    share <= 1.10, f"{ours} {column}: {share:.2f}x the thinnest subclass (≤ 1.10)"
                )
    for key in ("core", *OURS):
        if _present(report, key, "tls_conns"):
            warm = value(key, "tls_conns")
            report.check(warm == 0, f"{key}: {warm:g} new connections per warm HTTPS burst (0)")
        if _present(report, key, "conns"):
            # Plain-HTTP bursts: the most opened in a warm burst.
            text = report.cells[key]["conns"]
            later = int(text.split("/")[1])
            report.check(later == 0, f"{key}: {later} new connections per warm burst, no latency")
        if _present(report, key, "chat_delay"):
            p99 = value(key, "chat_delay") * 1000
            report.check(p99 < 50, f"{key}: chat load p99 added delay {p99:.1f} ms (< 50)")
        for column in ("tls_errors", "chat_errors"):
            if _present(report, key, column):
                report.check(value(key, column) == 0, f"{key}: no errors or lost events ({column})")
    if _present(report, "core", "chat_cpu"):
        figure = value("core", "chat_cpu")
        report.check(figure <= 1.2, f"core chat CPU per event {figure:.2f}x ≤ 1.2x the floor")
