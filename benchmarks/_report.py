"""Run settings, the result store and the one table ``python -m benchmarks`` prints."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["COLUMNS", "Report", "Settings", "fmt_ms", "fmt_ratio"]


@dataclass(frozen=True)
class Settings:
    """Repetitions per scenario; ``quick`` trades stability for a run of a few minutes."""

    quick: bool = False

    @property
    def call_rounds(self) -> int:
        return 120 if self.quick else 400

    @property
    def call_warmup(self) -> int:
        return 15 if self.quick else 30

    @property
    def stream_events(self) -> int:
        return 2_000

    @property
    def stream_rounds(self) -> int:
        return 8 if self.quick else 25

    @property
    def concurrency(self) -> int:
        return 200

    @property
    def burst_rounds(self) -> int:
        return 1 if self.quick else 5

    @property
    def idle_rounds(self) -> int:
        # One burst after idle per contender is one sample: too few to rank contenders by.
        return 1 if self.quick else 3

    @property
    def idle_seconds(self) -> float:
        # Longer than httpx's default keep-alive expiry (5 s): the pool has expired connections
        # to drop when the second burst arrives.
        return 6.0

    @property
    def import_reps(self) -> int:
        return 2 if self.quick else 5

    @property
    def memory_tokens(self) -> int:
        return 20_000 if self.quick else 100_000

    @property
    def tls_burst_rounds(self) -> int:
        return 2 if self.quick else 4

    @property
    def chat_streams(self) -> int:
        return 200 if self.quick else 1_000

    @property
    def chat_events(self) -> int:
        return 100 if self.quick else 300

    @property
    def chat_interval(self) -> float:
        return 0.020


#: (key, heading) in table order.
COLUMNS: list[tuple[str, str]] = [
    ("call_p50", "call p50"),
    ("call_p90", "call p90"),
    ("stream", "stream 2k"),
    ("ttft", "TTFT"),
    ("conc_invoke", "200xainvoke"),
    ("conc_stream", "200xastream"),
    ("idle_burst", "after idle"),
    ("conns", "conns/burst"),
    ("errors", "errors"),
    ("conns_per_stream", "new conn/stream"),
    ("requests", "req/call"),
    ("same_text", "same text"),
    ("import", "import Δ"),
    ("memory", "peak RSS/reply"),
    ("tls_burst", "HTTPS 200x"),
    ("tls_conns", "HTTPS conns cold/warm/idle"),
    ("tls_cpu", "CPU/call"),
    ("tls_errors", "HTTPS err"),
    ("chat_cpu", "chat CPU/event"),
    ("chat_delay", "added delay p99/max"),
    ("chat_rss", "RSS/stream"),
    ("chat_fds", "fds"),
    ("chat_errors", "chat err"),
]


def fmt_ratio(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.2f}x"


def fmt_ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "n/a"
    ms = seconds * 1000
    return f"{ms:.2f}ms" if ms < 10 else f"{ms:.0f}ms"


@dataclass
class Report:
    """Formatted cells per contender and column, plus notes printed under the table."""

    names: dict[str, str]
    cells: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)
    raw: dict[str, dict[str, float]] = field(default_factory=dict)

    def set(self, key: str, column: str, text: str, value: float | None = None) -> None:
        self.cells.setdefault(key, {})[column] = text
        if value is not None:
            self.raw.setdefault(key, {})[column] = value

    def value(self, key: str, column: str) -> float:
        return self.raw.get(key, {}).get(column, math.nan)

    def check(self, ok: bool, text: str) -> None:
        self.verdicts.append(f"{'PASS' if ok else 'MISS'}  {text}")

    def table(self) -> str:
        """A Markdown table: it reads in a terminal and pastes into the README as is."""
        columns = [c for c in COLUMNS if any(c[0] in row for row in self.cells.values())]
        header = ["contender", *(heading for _, heading in columns)]
        rows = [header]
        for key, name in self.names.items():
            row = self.cells.get(key, {})
            rows.append([name, *(row.get(column, "") for column, _ in columns)])
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]

        def line(cells: list[str]) -> str:
            padded = [
                cell.ljust(width) if i == 0 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
            ]
            return "| " + " | ".join(padded) + " |"

        rule = (
            "|"
            + "|".join(
                "-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)
            )
            + "|"
        )
        return "\n".join([line(rows[0]), rule, *(line(r) for r in rows[1:])])

    def render(self) -> str:
        parts = [self.table()]
        if self.notes:
            parts.append("\n".join(self.notes))
        if self.verdicts:
            parts.append("Targets:\n" + "\n".join(f"  {v}" for v in self.verdicts))
        return "\n\n".join(parts)
