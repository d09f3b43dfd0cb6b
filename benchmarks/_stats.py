"""Order statistics and the interleaved runner every timing scenario uses."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["Samples", "interleaved", "median", "p90", "ratio"]

K = TypeVar("K")

Samples = dict[str, list[float]]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def p90(values: Sequence[float]) -> float:
    """The 90th percentile (nearest rank), robust for the few hundred samples we take."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)]


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline > 0 else math.nan


def interleaved(
    keys: Sequence[str],
    measure: Callable[[str], float | None],
    *,
    rounds: int,
    warmup: int,
) -> Samples:
    """Run ``measure(key)`` for every key, round after round, in a rotating order.

    A B C, B C A, C A B …: drift on a noisy shared machine (another process waking up, CPU
    frequency) lands on every contender alike, and no contender always follows the same
    neighbour (whose garbage or warm caches it would inherit). Warm-up rounds are dropped.
    ``measure`` may return ``None`` to record nothing for that call.
    """
    samples: Samples = {key: [] for key in keys}
    n = len(keys)
    for index in range(warmup + rounds):
        shift = index % n if n else 0
        for key in [*keys[shift:], *keys[:shift]]:
            value = measure(key)
            if index >= warmup and value is not None:
                samples[key].append(value)
    return samples
